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

// func classesAVX2(p *byte, words int, h, jc, lfs *uint64) (nul bool)
//
// Classifies each byte by its two nibbles with two table lookups (VPSHUFB):
// viewHi has a bit for each high nibble of a byte of interest (2: ' ' '%',
// 3: '0'-'9' and, a bit of its own, ':', 4 and 6: 'A'-'F' 'a'-'f', 7: 'x'),
// viewLo the bits of the high nibbles with which the low nibble makes one;
// the byte is a hex digit if the two share a bit of 6, a join byte (':',
// ' ', 'x', '%') if they share one of 0x31.
TEXT ·classesAVX2(SB), NOSPLIT, $0-41
	MOVQ    p+0(FP), SI
	MOVQ    words+8(FP), CX
	MOVQ    h+16(FP), DI
	MOVQ    jc+24(FP), R8
	MOVQ    lfs+32(FP), R9
	MOVL    $0x0f, AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y15
	MOVL    $0x06, AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y11
	MOVL    $0x31, AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y9
	MOVL    $0x0a, AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y10
	VMOVDQU viewLo<>(SB), Y14
	VMOVDQU viewHi<>(SB), Y13
	VPXOR   Y12, Y12, Y12
	VPXOR   Y8, Y8, Y8 // NUL bytes seen

classes2:
	VMOVDQU   (SI), Y0
	VMOVDQU   32(SI), Y5
	VPCMPEQB  Y12, Y0, Y1
	VPOR      Y1, Y8, Y8
	VPCMPEQB  Y12, Y5, Y1
	VPOR      Y1, Y8, Y8
	// Line feeds.
	VPCMPEQB  Y10, Y0, Y1
	VPMOVMSKB Y1, AX
	VPCMPEQB  Y10, Y5, Y1
	VPMOVMSKB Y1, DX
	SHLQ      $32, DX
	ORQ       DX, AX
	MOVQ      AX, (R9)
	// The classes of the first half...
	VPAND     Y15, Y0, Y1
	VPSRLW    $4, Y0, Y2
	VPAND     Y15, Y2, Y2
	VPSHUFB   Y1, Y14, Y1
	VPSHUFB   Y2, Y13, Y2
	VPAND     Y1, Y2, Y1
	VPAND     Y11, Y1, Y3
	VPAND     Y9, Y1, Y4
	VPCMPEQB  Y12, Y3, Y3
	VPCMPEQB  Y12, Y4, Y4
	VPMOVMSKB Y3, BX
	VPMOVMSKB Y4, R10
	// ...and of the second.
	VPAND     Y15, Y5, Y6
	VPSRLW    $4, Y5, Y7
	VPAND     Y15, Y7, Y7
	VPSHUFB   Y6, Y14, Y6
	VPSHUFB   Y7, Y13, Y7
	VPAND     Y6, Y7, Y6
	VPAND     Y11, Y6, Y7
	VPAND     Y9, Y6, Y3
	VPCMPEQB  Y12, Y7, Y7
	VPCMPEQB  Y12, Y3, Y3
	VPMOVMSKB Y7, AX
	VPMOVMSKB Y3, DX
	SHLQ      $32, AX
	ORQ       AX, BX
	NOTQ      BX
	MOVQ      BX, (DI)
	SHLQ      $32, DX
	ORQ       DX, R10
	NOTQ      R10
	MOVQ      R10, (R8)
	ADDQ      $64, SI
	ADDQ      $8, DI
	ADDQ      $8, R8
	ADDQ      $8, R9
	DECQ      CX
	JNZ       classes2
	VPMOVMSKB Y8, AX
	TESTL     AX, AX
	SETNE     nul+40(FP)
	VZEROUPPER
	RET

// func classesAVX512(p *byte, words int, h, jc, lfs *uint64) (nul bool)
//
// classesAVX2's lookups, 64 bytes at a time, into mask registers.
TEXT ·classesAVX512(SB), NOSPLIT, $0-41
	MOVQ    p+0(FP), SI
	MOVQ    words+8(FP), CX
	MOVQ    h+16(FP), DI
	MOVQ    jc+24(FP), R8
	MOVQ    lfs+32(FP), R9
	MOVL    $0x0f, AX
	VPBROADCASTB AX, Z15
	MOVL    $0x06, AX
	VPBROADCASTB AX, Z11
	MOVL    $0x31, AX
	VPBROADCASTB AX, Z9
	MOVL    $0x0a, AX
	VPBROADCASTB AX, Z10
	VBROADCASTI32X4 viewLo<>(SB), Z14
	VBROADCASTI32X4 viewHi<>(SB), Z13
	KXORQ   K5, K5, K5 // NUL bytes seen

classes512:
	VMOVDQU64 (SI), Z0
	VPSRLW    $4, Z0, Z1
	VPANDQ    Z15, Z0, Z2
	VPANDQ    Z15, Z1, Z1
	VPSHUFB   Z2, Z14, Z2
	VPSHUFB   Z1, Z13, Z1
	VPANDQ    Z1, Z2, Z1
	VPTESTMB  Z11, Z1, K1
	VPTESTMB  Z9, Z1, K2
	VPCMPEQB  Z10, Z0, K3
	VPTESTNMB Z0, Z0, K4
	KORQ      K4, K5, K5
	KMOVQ     K1, AX
	MOVQ      AX, (DI)
	KMOVQ     K2, AX
	MOVQ      AX, (R8)
	KMOVQ     K3, AX
	MOVQ      AX, (R9)
	ADDQ      $64, SI
	ADDQ      $8, DI
	ADDQ      $8, R8
	ADDQ      $8, R9
	DECQ      CX
	JNZ       classes512
	KORTESTQ  K5, K5
	SETNE     nul+40(FP)
	VZEROUPPER
	RET

// func marksAVX512(batches int, h, jc, lfs, runs, ends, runsIn, endsIn *uint64)
//
// byteClasses.marksGo eight words at a time: VALIGNQ lines up each word
// with the one before (Z20-Z24 hold the previous batch's words), VPSHLDQ
// shifts a word left and fills it from the one before. A batch's eight
// words have one byte of runsIn and endsIn.
TEXT ·marksAVX512(SB), NOSPLIT, $0-64
	MOVQ    batches+0(FP), CX
	MOVQ    h+8(FP), SI
	MOVQ    jc+16(FP), DX
	MOVQ    lfs+24(FP), R8
	MOVQ    runs+32(FP), DI
	MOVQ    ends+40(FP), R9
	MOVQ    runsIn+48(FP), R10
	MOVQ    endsIn+56(FP), R11
	VPXORQ  Z20, Z20, Z20 // h
	VPXORQ  Z21, Z21, Z21 // jc
	VPXORQ  Z22, Z22, Z22 // joins
	VPXORQ  Z23, Z23, Z23 // joins with another before
	VPXORQ  Z24, Z24, Z24 // line feeds

marks:
	VMOVDQU64  (SI), Z0
	VMOVDQU64  (DX), Z1
	VMOVDQU64  (R8), Z2
	// Joins: a digit after a digit after a join byte.
	VALIGNQ    $7, Z20, Z0, Z3
	VALIGNQ    $7, Z21, Z1, Z4
	VPSHLDQ    $1, Z3, Z0, Z3
	VPSHLDQ    $2, Z4, Z1, Z4
	VPANDQ     Z3, Z0, Z5
	VPANDQ     Z4, Z5, Z5
	VMOVDQA64  Z0, Z20
	VMOVDQA64  Z1, Z21
	// Those with another 3 to 5 bytes before...
	VALIGNQ    $7, Z22, Z5, Z6
	VPSHLDQ    $3, Z6, Z5, Z7
	VPSHLDQ    $4, Z6, Z5, Z8
	VPSHLDQ    $5, Z6, Z5, Z9
	VPTERNLOGQ $0xfe, Z9, Z8, Z7
	VPANDQ     Z5, Z7, Z7
	VMOVDQA64  Z5, Z22
	// ...and of those, the ones with another so before.
	VALIGNQ    $7, Z23, Z7, Z6
	VPSHLDQ    $3, Z6, Z7, Z8
	VPSHLDQ    $4, Z6, Z7, Z9
	VPSHLDQ    $5, Z6, Z7, Z10
	VPTERNLOGQ $0xfe, Z10, Z9, Z8
	VPANDQ     Z7, Z8, Z8
	VMOVDQU64  Z8, (DI)
	VPTESTMQ   Z8, Z8, K1
	KMOVB      K1, AX
	MOVB       AL, (R10)
	VMOVDQA64  Z7, Z23
	// Line feeds 65, 66, 77 or 78 bytes after another: from the word
	// before, filled from the one before that.
	VALIGNQ    $7, Z24, Z2, Z3
	VALIGNQ    $6, Z24, Z2, Z4
	VPSHLDQ    $1, Z4, Z3, Z5
	VPSHLDQ    $2, Z4, Z3, Z6
	VPSHLDQ    $13, Z4, Z3, Z7
	VPSHLDQ    $14, Z4, Z3, Z8
	VPTERNLOGQ $0xfe, Z7, Z6, Z5
	VPTERNLOGQ $0xa8, Z2, Z8, Z5 // (Z5 | Z8) & Z2
	VMOVDQU64  Z5, (R9)
	VPTESTMQ   Z5, Z5, K1
	KMOVB      K1, AX
	MOVB       AL, (R11)
	VMOVDQA64  Z2, Z24
	ADDQ       $64, SI
	ADDQ       $64, DX
	ADDQ       $64, R8
	ADDQ       $64, DI
	ADDQ       $64, R9
	INCQ       R10
	INCQ       R11
	DECQ       CX
	JNZ        marks
	VZEROUPPER
	RET

// The tables, once for each 128-bit lane.
DATA viewLo<>+0(SB)/8, $0x0206070606060603
DATA viewLo<>+8(SB)/8, $0x0000000000200212
DATA viewLo<>+16(SB)/8, $0x0206070606060603
DATA viewLo<>+24(SB)/8, $0x0000000000200212
GLOBL viewLo<>(SB), RODATA|NOPTR, $32

DATA viewHi<>+0(SB)/8, $0x1004000422010000
DATA viewHi<>+8(SB)/8, $0x0000000000000000
DATA viewHi<>+16(SB)/8, $0x1004000422010000
DATA viewHi<>+24(SB)/8, $0x0000000000000000
GLOBL viewHi<>(SB), RODATA|NOPTR, $32
