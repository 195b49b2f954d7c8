//go:build amd64 && !purego

#include "textflag.h"

// func indexPairAVX2(p *byte, blocks int, pair uint16) int
TEXT ·indexPairAVX2(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ blocks+8(FP), CX
	MOVWLZX pair+16(FP), AX
	MOVL AX, DX
	ANDL $0xff, AX
	SHRL $8, DX
	VMOVD AX, X0
	VPBROADCASTB X0, Y14
	VMOVD DX, X0
	VPBROADCASTB X0, Y15
	MOVQ SI, DI
	TESTQ CX, CX
	JZ    none

loop:
	VPCMPEQB (SI), Y14, Y0
	VPCMPEQB 1(SI), Y15, Y1
	VPAND    Y0, Y1, Y1
	VPMOVMSKB Y1, AX
	TESTL    AX, AX
	JNZ      found
	ADDQ     $32, SI
	DECQ     CX
	JNZ      loop

none:
	MOVQ $-1, ret+24(FP)
	VZEROUPPER
	RET

found:
	BSFL   AX, AX
	SUBQ   DI, SI
	ADDQ   SI, AX
	MOVQ   AX, ret+24(FP)
	VZEROUPPER
	RET

// func byteBitmapAVX2(p *byte, words int, out *uint64, c, d byte)
TEXT ·byteBitmapAVX2(SB), NOSPLIT, $0-26
	MOVQ    p+0(FP), SI
	MOVQ    words+8(FP), CX
	MOVQ    out+16(FP), DI
	MOVBLZX c+24(FP), AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y15
	MOVBLZX d+25(FP), AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y14

bitmap:
	VMOVDQU   (SI), Y2
	VMOVDQU   32(SI), Y3
	VPCMPEQB  Y2, Y15, Y0
	VPCMPEQB  Y2, Y14, Y4
	VPOR      Y4, Y0, Y0
	VPCMPEQB  Y3, Y15, Y1
	VPCMPEQB  Y3, Y14, Y5
	VPOR      Y5, Y1, Y1
	VPMOVMSKB Y0, AX
	VPMOVMSKB Y1, DX
	SHLQ      $32, DX
	ORQ       DX, AX
	MOVQ      AX, (DI)
	ADDQ      $64, SI
	ADDQ      $8, DI
	DECQ      CX
	JNZ       bitmap
	VZEROUPPER
	RET

// func hexBitmapAVX2(p *byte, words int, out, digits *uint64)
//
// Classifies each byte by its two nibbles with two table lookups (VPSHUFB):
// hexHi has a bit for each high nibble that has class bytes (2: ' ' '%',
// 3: '0'-'9' and, a bit of its own, ':', 4 and 6: 'A'-'F' 'a'-'f', 5: '\',
// 7: 'x'), hexLo the bits of the high nibbles with which the low nibble
// makes a class byte; a byte is in the class if the two share a bit, and a
// hex digit if they share one of the digits' and letters' bits (6).
TEXT ·hexBitmapAVX2(SB), NOSPLIT, $0-32
	MOVQ    p+0(FP), SI
	MOVQ    words+8(FP), CX
	MOVQ    out+16(FP), DI
	MOVQ    digits+24(FP), R8
	MOVL    $0x0f, AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y15
	MOVL    $0x06, AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y11
	VMOVDQU hexLo<>(SB), Y14
	VMOVDQU hexHi<>(SB), Y13
	VPXOR   Y12, Y12, Y12

hexblock:
	VMOVDQU   (SI), Y0
	VMOVDQU   32(SI), Y5
	VPAND     Y15, Y0, Y1
	VPSRLW    $4, Y0, Y2
	VPAND     Y15, Y2, Y2
	VPSHUFB   Y1, Y14, Y1
	VPSHUFB   Y2, Y13, Y2
	VPAND     Y1, Y2, Y1
	VPAND     Y11, Y1, Y3
	VPCMPEQB  Y12, Y1, Y1
	VPCMPEQB  Y12, Y3, Y3
	VPMOVMSKB Y1, AX
	VPMOVMSKB Y3, BX
	VPAND     Y15, Y5, Y6
	VPSRLW    $4, Y5, Y7
	VPAND     Y15, Y7, Y7
	VPSHUFB   Y6, Y14, Y6
	VPSHUFB   Y7, Y13, Y7
	VPAND     Y6, Y7, Y6
	VPAND     Y11, Y6, Y8
	VPCMPEQB  Y12, Y6, Y6
	VPCMPEQB  Y12, Y8, Y8
	VPMOVMSKB Y6, DX
	VPMOVMSKB Y8, R9
	SHLQ      $32, DX
	ORQ       DX, AX
	NOTQ      AX
	MOVQ      AX, (DI)
	SHLQ      $32, R9
	ORQ       R9, BX
	NOTQ      BX
	MOVQ      BX, (R8)
	ADDQ      $64, SI
	ADDQ      $8, DI
	ADDQ      $8, R8
	DECQ      CX
	JNZ       hexblock
	VZEROUPPER
	RET

// The tables, once for each 128-bit lane.
DATA hexLo<>+0(SB)/8, $0x0206070606060603
DATA hexLo<>+8(SB)/8, $0x0000000800200212
DATA hexLo<>+16(SB)/8, $0x0206070606060603
DATA hexLo<>+24(SB)/8, $0x0000000800200212
GLOBL hexLo<>(SB), RODATA|NOPTR, $32

DATA hexHi<>+0(SB)/8, $0x1004080422010000
DATA hexHi<>+8(SB)/8, $0x0000000000000000
DATA hexHi<>+16(SB)/8, $0x1004080422010000
DATA hexHi<>+24(SB)/8, $0x0000000000000000
GLOBL hexHi<>(SB), RODATA|NOPTR, $32
