//go:build !purego

#include "textflag.h"

// The AVX2 kernels of resample.go's two passes. Both compute exactly what
// the scalar code does (Pillow's 22-bit fixed point, int32 sums, rounding
// half added first, >> 22, clamped to 0..255): integer sums do not depend
// on their order.

// Lanes 0-2 start at half (Pillow's rounding); 3-5 fold onto them.
DATA hinit<>+0(SB)/4, $0x200000
DATA hinit<>+4(SB)/4, $0x200000
DATA hinit<>+8(SB)/4, $0x200000
DATA hinit<>+12(SB)/4, $0
DATA hinit<>+16(SB)/4, $0
DATA hinit<>+20(SB)/4, $0
DATA hinit<>+24(SB)/4, $0
DATA hinit<>+28(SB)/4, $0
GLOBL hinit<>(SB), RODATA|NOPTR, $32

// VPERMD indices that bring lanes 3-5 (the second tap's R, G, B) to 0-2.
DATA fold<>+0(SB)/4, $3
DATA fold<>+4(SB)/4, $4
DATA fold<>+8(SB)/4, $5
DATA fold<>+12(SB)/4, $6
DATA fold<>+16(SB)/4, $7
DATA fold<>+20(SB)/4, $7
DATA fold<>+24(SB)/4, $7
DATA fold<>+28(SB)/4, $7
GLOBL fold<>(SB), RODATA|NOPTR, $32

// func hrowAVX2(out *byte, in *byte, off *int32, pairs *int32, w *int32, stride int, n int)
//
// n RGB output pixels. Output x reads pairs[x] pairs of input pixels from
// in+off[x], 8 bytes at a time (two pixels and two bytes that get weight
// 0), widened to int32 and multiplied by 8 weights at w+x*stride*4.
TEXT ·hrowAVX2(SB), NOSPLIT, $0-56
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ off+16(FP), R8
	MOVQ pairs+24(FP), R9
	MOVQ w+32(FP), R10
	MOVQ stride+40(FP), R11
	SHLQ $2, R11
	MOVQ n+48(FP), CX
	VMOVDQU hinit<>(SB), Y6
	VMOVDQU fold<>(SB), Y7
	TESTQ CX, CX
	JZ   hdone

hloop:
	MOVLQSX (R8), AX
	LEAQ (SI)(AX*1), BX
	MOVL (R9), DX
	MOVQ R10, R12
	VMOVDQA Y6, Y0

hpair:
	VPMOVZXBD (BX), Y1
	VPMULLD (R12), Y1, Y1
	VPADDD Y1, Y0, Y0
	ADDQ $6, BX
	ADDQ $32, R12
	DECL DX
	JNZ  hpair

	VPERMD Y0, Y7, Y2
	VPADDD Y2, Y0, Y0
	VPSRAD $22, Y0, Y0
	VPACKSSDW X0, X0, X0
	VPACKUSWB X0, X0, X0
	VMOVD X0, AX
	MOVW AX, (DI)
	SHRL $16, AX
	MOVB AX, 2(DI)
	ADDQ $3, DI
	ADDQ $4, R8
	ADDQ $4, R9
	ADDQ R11, R10
	DECQ CX
	JNZ  hloop

hdone:
	VZEROUPPER
	RET

// func vrowAVX2(dst *byte, src *byte, rowStride int, w *int32, taps int, groups int)
//
// groups*32 output bytes: dst[j] = clamp((half + sum_i src[i*rowStride+j] *
// w[i]) >> 22) for i < taps.
TEXT ·vrowAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rowStride+16(FP), R8
	MOVQ w+24(FP), R9
	MOVQ taps+32(FP), R10
	MOVQ groups+40(FP), CX
	MOVL $0x200000, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	TESTQ CX, CX
	JZ   vdone

vloop:
	VMOVDQA Y6, Y0
	VMOVDQA Y6, Y1
	VMOVDQA Y6, Y2
	VMOVDQA Y6, Y3
	MOVQ SI, BX
	MOVQ R9, R12
	MOVQ R10, DX

vtap:
	VPBROADCASTD (R12), Y5
	VPMOVZXBD (BX), Y8
	VPMOVZXBD 8(BX), Y9
	VPMOVZXBD 16(BX), Y10
	VPMOVZXBD 24(BX), Y11
	VPMULLD Y5, Y8, Y8
	VPMULLD Y5, Y9, Y9
	VPMULLD Y5, Y10, Y10
	VPMULLD Y5, Y11, Y11
	VPADDD Y8, Y0, Y0
	VPADDD Y9, Y1, Y1
	VPADDD Y10, Y2, Y2
	VPADDD Y11, Y3, Y3
	ADDQ R8, BX
	ADDQ $4, R12
	DECQ DX
	JNZ  vtap

	// 32 int32 -> 32 bytes. VPACKSSDW and VPACKUSWB work within 128-bit
	// halves, so the halves are paired up first to keep byte order.
	VPSRAD $22, Y0, Y0
	VPSRAD $22, Y1, Y1
	VPSRAD $22, Y2, Y2
	VPSRAD $22, Y3, Y3
	VPERM2I128 $0x20, Y1, Y0, Y8 // elements 0-3, 8-11
	VPERM2I128 $0x31, Y1, Y0, Y9 // 4-7, 12-15
	VPACKSSDW Y9, Y8, Y8         // 0-7, 8-15 as words
	VPERM2I128 $0x20, Y3, Y2, Y10
	VPERM2I128 $0x31, Y3, Y2, Y11
	VPACKSSDW Y11, Y10, Y10      // 16-23, 24-31
	VPERM2I128 $0x20, Y10, Y8, Y12 // 0-7, 16-23
	VPERM2I128 $0x31, Y10, Y8, Y13 // 8-15, 24-31
	VPACKUSWB Y13, Y12, Y12      // 0-15, 16-31
	VMOVDQU Y12, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ  vloop

vdone:
	VZEROUPPER
	RET

// Lanes 0-2 start at half; the other lanes fold onto them.
DATA hinit16<>+0(SB)/4, $0x200000
DATA hinit16<>+4(SB)/4, $0x200000
DATA hinit16<>+8(SB)/4, $0x200000
DATA hinit16<>+12(SB)/4, $0
DATA hinit16<>+16(SB)/8, $0
DATA hinit16<>+24(SB)/8, $0
DATA hinit16<>+32(SB)/8, $0
DATA hinit16<>+40(SB)/8, $0
DATA hinit16<>+48(SB)/8, $0
DATA hinit16<>+56(SB)/8, $0
GLOBL hinit16<>(SB), RODATA|NOPTR, $64

// VPERMD indices: lane i takes lane i+3 (lane 15 is always 0: its weight
// is 0), then i+6, then 12+i: lanes 0-2 end up summing all five pixels.
DATA shift3<>+0(SB)/4, $3
DATA shift3<>+4(SB)/4, $4
DATA shift3<>+8(SB)/4, $5
DATA shift3<>+12(SB)/4, $6
DATA shift3<>+16(SB)/4, $7
DATA shift3<>+20(SB)/4, $8
DATA shift3<>+24(SB)/4, $9
DATA shift3<>+28(SB)/4, $10
DATA shift3<>+32(SB)/4, $11
DATA shift3<>+36(SB)/4, $12
DATA shift3<>+40(SB)/4, $13
DATA shift3<>+44(SB)/4, $14
DATA shift3<>+48(SB)/4, $15
DATA shift3<>+52(SB)/4, $15
DATA shift3<>+56(SB)/4, $15
DATA shift3<>+60(SB)/4, $15
GLOBL shift3<>(SB), RODATA|NOPTR, $64

DATA shift6<>+0(SB)/4, $6
DATA shift6<>+4(SB)/4, $7
DATA shift6<>+8(SB)/4, $8
DATA shift6<>+12(SB)/4, $15
DATA shift6<>+16(SB)/4, $15
DATA shift6<>+20(SB)/4, $15
DATA shift6<>+24(SB)/4, $15
DATA shift6<>+28(SB)/4, $15
DATA shift6<>+32(SB)/4, $15
DATA shift6<>+36(SB)/4, $15
DATA shift6<>+40(SB)/4, $15
DATA shift6<>+44(SB)/4, $15
DATA shift6<>+48(SB)/4, $15
DATA shift6<>+52(SB)/4, $15
DATA shift6<>+56(SB)/4, $15
DATA shift6<>+60(SB)/4, $15
GLOBL shift6<>(SB), RODATA|NOPTR, $64

DATA shift12<>+0(SB)/4, $12
DATA shift12<>+4(SB)/4, $13
DATA shift12<>+8(SB)/4, $14
DATA shift12<>+12(SB)/4, $15
DATA shift12<>+16(SB)/4, $15
DATA shift12<>+20(SB)/4, $15
DATA shift12<>+24(SB)/4, $15
DATA shift12<>+28(SB)/4, $15
DATA shift12<>+32(SB)/4, $15
DATA shift12<>+36(SB)/4, $15
DATA shift12<>+40(SB)/4, $15
DATA shift12<>+44(SB)/4, $15
DATA shift12<>+48(SB)/4, $15
DATA shift12<>+52(SB)/4, $15
DATA shift12<>+56(SB)/4, $15
DATA shift12<>+60(SB)/4, $15
GLOBL shift12<>(SB), RODATA|NOPTR, $64

// func hrowAVX512(out *byte, in *byte, off *int32, chunks *int32, w *int32, stride int, n int)
//
// hrowAVX2 with five input pixels (16 bytes read, 15 used) per step:
// weights come 16 to a chunk, w0 w0 w0 ... w4 w4 w4 0.
TEXT ·hrowAVX512(SB), NOSPLIT, $0-56
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ off+16(FP), R8
	MOVQ chunks+24(FP), R9
	MOVQ w+32(FP), R10
	MOVQ stride+40(FP), R11
	SHLQ $2, R11
	MOVQ n+48(FP), CX
	VMOVDQU32 hinit16<>(SB), Z6
	VMOVDQU32 shift3<>(SB), Z7
	VMOVDQU32 shift6<>(SB), Z8
	VMOVDQU32 shift12<>(SB), Z9
	TESTQ CX, CX
	JZ   zdone

zloop:
	MOVLQSX (R8), AX
	LEAQ (SI)(AX*1), BX
	MOVL (R9), DX
	MOVQ R10, R12
	VMOVDQA32 Z6, Z0

zchunk:
	VPMOVZXBD (BX), Z1
	VPMULLD (R12), Z1, Z1
	VPADDD Z1, Z0, Z0
	ADDQ $15, BX
	ADDQ $64, R12
	DECL DX
	JNZ  zchunk

	VPERMD Z0, Z7, Z2  // lane i: pixel sums i and i+3
	VPADDD Z2, Z0, Z2
	VPERMD Z2, Z8, Z3  // lanes 0-2: pixels 2+3
	VPADDD Z3, Z2, Z2  // lanes 0-2: pixels 0-3
	VPERMD Z0, Z9, Z3  // lanes 0-2: pixel 4
	VPADDD Z3, Z2, Z0
	VPSRAD $22, X0, X0
	VPACKSSDW X0, X0, X0
	VPACKUSWB X0, X0, X0
	VMOVD X0, AX
	MOVW AX, (DI)
	SHRL $16, AX
	MOVB AX, 2(DI)
	ADDQ $3, DI
	ADDQ $4, R8
	ADDQ $4, R9
	ADDQ R11, R10
	DECQ CX
	JNZ  zloop

zdone:
	VZEROUPPER
	RET
