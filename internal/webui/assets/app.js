// The search page's script: searches without reloading the page, more
// results on scroll, an image dropped, pasted or picked as the query, the
// photo viewer, keyboard use, and the indexing progress. Plain JavaScript,
// no framework and no build step; the page works without it (the server
// draws the results), this only makes it quicker to use.
(() => {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const main = $('main');
  if (!main) return; // the photo page and the sign-in form need nothing

  const grid = $('results');
  const form = $('search');
  const input = $('q');
  const summary = $('summary');
  const more = $('more');
  const moreLink = $('more-link');
  const statusLine = $('status');
  const progress = $('progress');
  const bar = $('progress-bar');
  const chip = $('chip');
  const chipImg = $('chip-img');
  const chipText = $('chip-text');
  const drop = $('drop');
  const file = $('file');
  const viewer = $('viewer');

  // The query shown: text terms, a photo of the index (like), or an image
  // of the user's (image: {blob, name, url, hash} once the server has it).
  let state = { q: main.dataset.query || '', like: main.dataset.like || '', image: null };
  let next = main.dataset.next || '';
  let partial = main.dataset.indexing === 'true'; // results made while indexing
  let generation = 0; // the latest search; older answers are dropped
  let loading = false;

  // Timings for make bench: performance marks, and the last search's.
  window.hybridembed = { timing: {} };

  function params(s, offset) {
    const p = new URLSearchParams();
    if (s.q) p.set('q', s.q);
    if (s.like) p.set('like', s.like);
    if (offset) p.set('offset', String(offset));
    return p;
  }

  function pageURL(s) {
    const p = params(s, 0).toString();
    return p ? '/?' + p : '/';
  }

  class HTTPError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function answer(resp) {
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      // not JSON: a proxy's page, a dropped connection
    }
    if (resp.status === 401) {
      location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
      throw new HTTPError(401, 'Sign in first.');
    }
    if (!resp.ok) throw new HTTPError(resp.status, (body && body.error) || resp.status + ' ' + resp.statusText);
    return body;
  }

  async function getJSON(url) {
    return answer(await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' }));
  }

  // fetchResults asks for a page of results; an image query is sent once,
  // then named by the hash the server remembers it by (sent again when the
  // server has forgotten it).
  async function fetchResults(s, offset) {
    if (s.image && s.image.hash) {
      const p = params(s, offset);
      p.set('image', s.image.hash);
      try {
        return await getJSON('/ui/search?' + p);
      } catch (e) {
        if (!(e instanceof HTTPError) || e.status !== 410) throw e;
      }
    }
    if (s.image) {
      const body = new FormData();
      body.append('image', s.image.blob, s.image.name || 'image');
      if (s.q) body.append('q', s.q);
      if (s.like) body.append('like', s.like);
      if (offset) body.append('offset', String(offset));
      const res = await answer(await fetch('/ui/search', { method: 'POST', body, credentials: 'same-origin' }));
      s.image.hash = res.image;
      return res;
    }
    return getJSON('/ui/search?' + params(s, offset));
  }

  function showError(message) {
    summary.textContent = '';
    const span = document.createElement('span');
    span.className = 'error';
    span.setAttribute('role', 'alert');
    span.textContent = message;
    summary.append(span);
  }

  function describe(res) {
    if (!res.results.length && !res.offset) {
      return res.indexing ? 'No photos indexed yet: they will appear as indexing goes on.' : 'No photos.';
    }
    return 'Best matches first, out of ' + res.searched + ' photos' + (res.indexing ? ' indexed so far.' : '.');
  }

  const eager = 18; // the first screen's previews load at once, the rest as they come near

  function hitElement(r, i, offset) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.className = 'hit';
    a.href = r.page;
    const score = r.score.toFixed(4);
    Object.assign(a.dataset, {
      id: r.id, path: r.path, library: r.library, date: r.date || '', preview: r.preview,
      original: r.original, similar: r.similar, score,
    });
    a.title = score + ' · ' + r.path;
    const img = document.createElement('img');
    img.src = r.thumb;
    img.alt = r.path;
    if (offset + i < eager) img.fetchPriority = 'high';
    else img.loading = 'lazy';
    img.decoding = 'async';
    const s = document.createElement('span');
    s.className = 'score';
    s.setAttribute('aria-hidden', 'true');
    s.textContent = r.score.toFixed(3);
    a.append(img, s);
    li.append(a);
    return li;
  }

  function setMore(res) {
    next = res.more ? res.next : '';
    more.hidden = !next;
    if (res.next_page) moreLink.href = res.next_page;
  }

  function showChip(s, res) {
    if (s.image) {
      chipImg.src = s.image.url;
      chipText.textContent = 'Photos like ' + (s.image.name || 'your image') + (s.q ? ', with ' + s.q : '');
    } else if (s.like && res && res.like) {
      chipImg.src = res.like.thumb;
      chipText.textContent = 'Photos like ' + res.like.path + (s.q ? ', with ' + s.q : '');
    } else if (!s.like) {
      chip.hidden = true;
      return;
    }
    chip.hidden = false;
  }

  // paint records when the first result was drawn on screen.
  function paint(gen) {
    const first = grid.querySelector('img');
    const done = () => requestAnimationFrame(() => {
      if (gen !== generation) return;
      performance.mark('hybridembed:painted');
      window.hybridembed.timing.painted = performance.now();
    });
    if (!first) return done();
    if (first.complete) return done();
    first.addEventListener('load', done, { once: true });
    first.addEventListener('error', done, { once: true });
  }

  async function search(s, push) {
    const gen = ++generation;
    loading = true;
    state = s;
    showChip(s, null);
    summary.textContent = 'Searching…';
    let res;
    try {
      res = await fetchResults(s, 0);
    } catch (e) {
      if (gen === generation) {
        loading = false;
        showError(e.message);
      }
      return;
    }
    if (gen !== generation) return;
    loading = false;
    if (push) history.pushState({ q: s.q, like: s.like }, '', s.image ? '/' : pageURL(s));
    document.title = (s.q || (res.like ? 'like ' + res.like.path : 'by image')) + ' · Photos';
    showChip(s, res);
    grid.replaceChildren(...res.results.map((r, i) => hitElement(r, i, 0)));
    summary.textContent = describe(res);
    partial = res.indexing;
    setMore(res);
    window.hybridembed.timing.results = performance.now();
    paint(gen);
  }

  async function loadMore() {
    if (!next || loading) return;
    loading = true;
    const gen = generation;
    const offset = grid.children.length;
    try {
      const res = await fetchResults(state, offset);
      if (gen !== generation) return;
      grid.append(...res.results.map((r, i) => hitElement(r, i, offset)));
      setMore(res);
    } catch (e) {
      if (gen === generation) showError(e.message);
    } finally {
      if (gen === generation) loading = false;
    }
  }

  function clearResults(push) {
    ++generation;
    state = { q: '', like: '', image: null };
    grid.replaceChildren();
    summary.textContent = '';
    chip.hidden = true;
    next = '';
    more.hidden = true;
    if (push) history.pushState({ q: '', like: '' }, '', '/');
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    performance.mark('hybridembed:submit');
    window.hybridembed.timing = { submit: performance.now() };
    const s = { q: input.value.trim(), like: state.like, image: state.image };
    if (!s.q && !s.like && !s.image) {
      clearResults(true);
      return;
    }
    search(s, true);
  });

  $('chip-clear').addEventListener('click', () => {
    if (state.image) URL.revokeObjectURL(state.image.url);
    const s = { q: state.q, like: '', image: null };
    if (s.q) search(s, true);
    else clearResults(true);
    input.focus();
  });

  window.addEventListener('popstate', () => {
    const p = new URLSearchParams(location.search);
    const s = { q: p.get('q') || '', like: p.get('like') || '', image: null };
    input.value = s.q;
    if (s.q || s.like) search(s, false);
    else clearResults(false);
  });

  // More results as the end of the list comes into view; the link stays
  // for keyboards and browsers without IntersectionObserver.
  if ('IntersectionObserver' in window) {
    new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadMore();
    }, { rootMargin: '800px' }).observe(more);
  }
  moreLink.addEventListener('click', (ev) => {
    ev.preventDefault();
    loadMore();
  });

  // An image of the user's as the query: dropped, pasted or picked.
  function searchByImage(f) {
    if (!f) return;
    if (f.type && !f.type.startsWith('image/')) {
      showError(f.name + ' is not an image.');
      return;
    }
    if (state.image) URL.revokeObjectURL(state.image.url);
    input.value = '';
    performance.mark('hybridembed:submit');
    window.hybridembed.timing = { submit: performance.now() };
    search({ q: '', like: '', image: { blob: f, name: f.name, url: URL.createObjectURL(f) } }, true);
  }

  file.addEventListener('change', () => {
    searchByImage(file.files[0]);
    file.value = '';
  });

  let dragDepth = 0;
  const carriesFiles = (ev) => ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes('Files');
  window.addEventListener('dragenter', (ev) => {
    if (!carriesFiles(ev)) return;
    dragDepth++;
    drop.hidden = false;
  });
  window.addEventListener('dragover', (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'copy';
  });
  window.addEventListener('dragleave', () => {
    if (--dragDepth <= 0) {
      dragDepth = 0;
      drop.hidden = true;
    }
  });
  window.addEventListener('drop', (ev) => {
    dragDepth = 0;
    drop.hidden = true;
    if (!ev.dataTransfer) return;
    ev.preventDefault();
    const f = Array.from(ev.dataTransfer.files || [])[0];
    if (f) searchByImage(f);
    else showError('Drop an image file: links are not fetched.');
  });
  document.addEventListener('paste', (ev) => {
    const f = Array.from((ev.clipboardData && ev.clipboardData.files) || []).find((x) => x.type.startsWith('image/'));
    if (!f) return; // text pastes into the search box as usual
    ev.preventDefault();
    searchByImage(f);
  });

  // The viewer: a larger preview, path, date, "similar" and the original.
  let current = -1;
  const hits = () => Array.from(grid.querySelectorAll('a.hit'));

  function show(i) {
    const list = hits();
    if (i < 0 || i >= list.length) return;
    current = i;
    const d = list[i].dataset;
    const img = $('viewer-img');
    img.src = d.preview;
    img.alt = d.path;
    $('viewer-title').textContent = d.path;
    $('viewer-meta').textContent = [d.library, d.date, 'score ' + d.score].filter(Boolean).join(' · ');
    $('viewer-similar').href = d.similar;
    $('viewer-original').href = d.original;
    $('viewer-prev').disabled = i === 0;
    $('viewer-next').disabled = i === list.length - 1 && !next;
    if (!viewer.open) {
      viewer.showModal();
      // The photo, not a button, has the focus: the key that opened the
      // viewer must not press one.
      $('viewer-figure').focus();
    }
  }

  async function step(delta) {
    if (current + delta >= hits().length && next) await loadMore();
    show(current + delta);
  }

  function similar(id) {
    viewer.close();
    input.value = '';
    performance.mark('hybridembed:submit');
    window.hybridembed.timing = { submit: performance.now() };
    search({ q: '', like: id, image: null }, true);
  }

  grid.addEventListener('click', (ev) => {
    const a = ev.target.closest('a.hit');
    if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    show(hits().indexOf(a));
  });
  $('viewer-prev').addEventListener('click', () => step(-1));
  $('viewer-next').addEventListener('click', () => step(1));
  $('viewer-close').addEventListener('click', () => viewer.close());
  $('viewer-similar').addEventListener('click', (ev) => {
    ev.preventDefault();
    similar(hits()[current].dataset.id);
  });
  viewer.addEventListener('click', (ev) => {
    if (ev.target === viewer) viewer.close(); // the backdrop
  });
  viewer.addEventListener('close', () => {
    const a = hits()[current];
    $('viewer-img').removeAttribute('src');
    if (a) a.focus();
  });
  viewer.addEventListener('keydown', (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    switch (ev.key) {
      case 'ArrowLeft': ev.preventDefault(); step(-1); break;
      case 'ArrowRight': ev.preventDefault(); step(1); break;
      case 's': ev.preventDefault(); similar(hits()[current].dataset.id); break;
      case 'o': ev.preventDefault(); $('viewer-original').click(); break;
    }
  });

  // Keyboard: "/" goes to the search box; arrows move between results.
  document.addEventListener('keydown', (ev) => {
    if (viewer.open || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const typing = ev.target.closest && ev.target.closest('input, textarea, select');
    if (ev.key === '/' && !typing) {
      ev.preventDefault();
      input.focus();
      input.select();
      return;
    }
    if (typing && ev.target === input && ev.key === 'ArrowDown' && hits().length) {
      ev.preventDefault();
      hits()[0].focus();
      return;
    }
    const a = ev.target.closest && ev.target.closest('a.hit');
    if (!a) return;
    const list = hits();
    const i = list.indexOf(a);
    const top = list[0].offsetTop;
    let cols = list.findIndex((x) => x.offsetTop !== top);
    if (cols <= 0) cols = list.length;
    let j = -1;
    switch (ev.key) {
      case 'ArrowRight': j = i + 1; break;
      case 'ArrowLeft': j = i - 1; break;
      case 'ArrowDown': j = i + cols; break;
      case 'ArrowUp': j = i - cols; if (j < 0) { ev.preventDefault(); input.focus(); return; } break;
      case 'Home': j = 0; break;
      case 'End': j = list.length - 1; break;
      default: return;
    }
    ev.preventDefault();
    if (j >= list.length && next) {
      loadMore().then(() => { const l = hits(); if (l[Math.min(j, l.length - 1)]) l[Math.min(j, l.length - 1)].focus(); });
      return;
    }
    if (j >= 0 && j < list.length) {
      list[j].focus();
      list[j].scrollIntoView({ block: 'nearest' });
    }
  });

  // Indexing progress: polled each second while a library is indexed, and
  // now and then after (a rescan may find new photos). Results made while
  // indexing are made again once it ends.
  let polling = statusLine.dataset.indexing === 'true';
  async function poll() {
    let st = null;
    try {
      st = await getJSON('/ui/status');
    } catch (e) {
      // the server restarting: keep the last line
    }
    if (st) {
      statusLine.textContent = st.text;
      progress.hidden = !st.indexing;
      if (st.total > 0) {
        bar.max = st.total;
        bar.value = st.done;
      } else {
        bar.removeAttribute('value');
      }
      if (polling && !st.indexing && partial && (state.q || state.like || state.image)) search(state, false);
      polling = st.indexing;
    }
    setTimeout(poll, polling ? 1000 : 15000);
  }
  setTimeout(poll, polling ? 1000 : 15000);

  // A shared /?q= link: the server drew the first results; record them.
  if (grid.children.length) {
    window.hybridembed.timing.results = performance.now();
    paint(generation);
  }
})();
