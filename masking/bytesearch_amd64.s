//go:build amd64 && !purego

#include "textflag.h"
#include "viewclasses_amd64.h"

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

// func compressAVX512(dst, p *byte, blocks int, hide *uint64) int
TEXT ·compressAVX512(SB), NOSPLIT, $0-40
	MOVQ    dst+0(FP), DI
	MOVQ    p+8(FP), SI
	MOVQ    blocks+16(FP), CX
	MOVQ    hide+24(FP), R8
	MOVQ    DI, R9

compress:
	VMOVDQU64   (SI), Z0
	MOVQ        (R8), AX
	NOTQ        AX
	KMOVQ       AX, K1
	VPCOMPRESSB.Z Z0, K1, Z1
	VMOVDQU64   Z1, (DI)
	POPCNTQ     AX, AX
	ADDQ        AX, DI
	ADDQ        $64, SI
	ADDQ        $8, R8
	DECQ        CX
	JNZ         compress
	SUBQ        R9, DI
	MOVQ        DI, ret+32(FP)
	VZEROUPPER
	RET

// func indexEscNulAVX2(p *byte, blocks int) int
TEXT ·indexEscNulAVX2(SB), NOSPLIT, $0-24
	MOVQ    p+0(FP), SI
	MOVQ    blocks+8(FP), CX
	MOVQ    SI, DI
	MOVL    $0x1b, AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y15
	VPXOR   Y14, Y14, Y14

escnul:
	VMOVDQU   (SI), Y0
	VMOVDQU   32(SI), Y1
	VPCMPEQB  Y15, Y0, Y2
	VPCMPEQB  Y14, Y0, Y3
	VPOR      Y3, Y2, Y2
	VPCMPEQB  Y15, Y1, Y4
	VPCMPEQB  Y14, Y1, Y5
	VPOR      Y5, Y4, Y4
	VPOR      Y4, Y2, Y3
	VPTEST    Y3, Y3
	JNZ       escnulfound
	ADDQ      $64, SI
	DECQ      CX
	JNZ       escnul
	MOVQ      $-1, ret+16(FP)
	VZEROUPPER
	RET

escnulfound:
	VPMOVMSKB Y2, AX
	VPMOVMSKB Y4, DX
	SHLQ      $32, DX
	ORQ       DX, AX
	BSFQ      AX, AX
	SUBQ      DI, SI
	ADDQ      SI, AX
	MOVQ      AX, ret+16(FP)
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

// func classesAVX2(p *byte, words int, h, jc, lfs, crs *uint64)
//
// Classifies each byte by its two nibbles with two table lookups (VPSHUFB):
// viewHi has a bit for each high nibble of a byte of interest (0: LF and,
// a bit of its own, CR; 2: ' ' '%'; 3: '0'-'9' and, a bit of its own, ':';
// 4 and 6: 'A'-'F' 'a'-'f'; 7: 'x'), viewLo the bits of the high nibbles
// with which the low nibble makes one. The byte is a hex digit if the two
// share a bit of 0x06, a join byte (':', ' ', 'x', '%') if they share one
// of 0x31, a line feed if they share 0x40 (and no other), a carriage
// return if they share 0x08.
TEXT ·classesAVX2(SB), NOSPLIT, $0-48
	MOVQ    p+0(FP), SI
	MOVQ    words+8(FP), CX
	MOVQ    h+16(FP), DI
	MOVQ    jc+24(FP), R8
	MOVQ    lfs+32(FP), R9
	MOVQ    crs+40(FP), R11
	MOVL    $0x0f, AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y15
	MOVL    $0x06, AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y11
	MOVL    $0x31, AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y9
	MOVL    $0x40, AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y10
	MOVL    $0x08, AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y7
	VMOVDQU viewLo<>(SB), Y14
	VMOVDQU viewHi<>(SB), Y13
	VPXOR   Y12, Y12, Y12

classes2:
	VMOVDQU   (SI), Y0
	VMOVDQU   32(SI), Y3
	// The classes of each half: Y1 and Y4.
	VPAND     Y15, Y0, Y1
	VPSRLW    $4, Y0, Y2
	VPAND     Y15, Y2, Y2
	VPSHUFB   Y1, Y14, Y1
	VPSHUFB   Y2, Y13, Y2
	VPAND     Y2, Y1, Y1
	VPAND     Y15, Y3, Y4
	VPSRLW    $4, Y3, Y5
	VPAND     Y15, Y5, Y5
	VPSHUFB   Y4, Y14, Y4
	VPSHUFB   Y5, Y13, Y5
	VPAND     Y5, Y4, Y4
	// Digits and join bytes: the bytes whose classes and the bits are
	// not 0, a mask inverted.
	VPAND     Y11, Y1, Y2
	VPCMPEQB  Y12, Y2, Y2
	VPMOVMSKB Y2, AX
	VPAND     Y11, Y4, Y5
	VPCMPEQB  Y12, Y5, Y5
	VPMOVMSKB Y5, DX
	SHLQ      $32, DX
	ORQ       DX, AX
	NOTQ      AX
	MOVQ      AX, (DI)
	VPAND     Y9, Y1, Y2
	VPCMPEQB  Y12, Y2, Y2
	VPMOVMSKB Y2, AX
	VPAND     Y9, Y4, Y5
	VPCMPEQB  Y12, Y5, Y5
	VPMOVMSKB Y5, DX
	SHLQ      $32, DX
	ORQ       DX, AX
	NOTQ      AX
	MOVQ      AX, (R8)
	// Line feeds and carriage returns: the bytes whose classes are the bit.
	VPCMPEQB  Y10, Y1, Y2
	VPMOVMSKB Y2, AX
	VPCMPEQB  Y10, Y4, Y5
	VPMOVMSKB Y5, DX
	SHLQ      $32, DX
	ORQ       DX, AX
	MOVQ      AX, (R9)
	VPCMPEQB  Y7, Y1, Y2
	VPMOVMSKB Y2, AX
	VPCMPEQB  Y7, Y4, Y5
	VPMOVMSKB Y5, DX
	SHLQ      $32, DX
	ORQ       DX, AX
	MOVQ      AX, (R11)
	ADDQ      $64, SI
	ADDQ      $8, DI
	ADDQ      $8, R8
	ADDQ      $8, R9
	ADDQ      $8, R11
	DECQ      CX
	JNZ       classes2
	VZEROUPPER
	RET

// PREV4(x, t, tp, out) sets out to the words before those of x (four
// words): t to x's lanes rotated up by one, and out to t with lane 0 from
// tp, the previous batch's t.
#define PREV4(x, t, tp, out) \
	VPERMQ  $0x93, x, t; \
	VPBLENDD $0x03, tp, t, out

// SHLD4(k, x, p, out) sets out to the words of x shifted left by k and
// filled from the words before, p: x<<k | p>>(64-k). It uses Y15.
#define SHLD4(k, x, p, out) \
	VPSLLQ $k, x, out; \
	VPSRLQ $(64-k), p, Y15; \
	VPOR   Y15, out, out

// MARKS4(off) computes runs and ends of the four words at off: h (SI), jc
// (DX), lfs (R8); state in Y8-Y13 (the previous four words' h, jc, joins,
// joins with another before, line feeds rotated; line feeds rotated by
// two). It leaves the words with runs in the low four bits of AX, with
// ends in BX, with carriage returns (R12) in R13.
#define MARKS4(off) \
	VMOVDQU    off(SI), Y0; \
	VMOVDQU    off(DX), Y1; \
	PREV4(Y0, Y2, Y8, Y3); \
	VMOVDQA    Y2, Y8; \
	SHLD4(1, Y0, Y3, Y4); \
	VPAND      Y4, Y0, Y0; \
	PREV4(Y1, Y2, Y9, Y3); \
	VMOVDQA    Y2, Y9; \
	SHLD4(2, Y1, Y3, Y4); \
	VPAND      Y4, Y0, Y0; \
	PREV4(Y0, Y2, Y10, Y3); \
	VMOVDQA    Y2, Y10; \
	SHLD4(3, Y0, Y3, Y4); \
	SHLD4(4, Y0, Y3, Y5); \
	VPOR       Y5, Y4, Y4; \
	SHLD4(5, Y0, Y3, Y5); \
	VPOR       Y5, Y4, Y4; \
	VPAND      Y4, Y0, Y0; \
	PREV4(Y0, Y2, Y11, Y3); \
	VMOVDQA    Y2, Y11; \
	SHLD4(3, Y0, Y3, Y4); \
	SHLD4(4, Y0, Y3, Y5); \
	VPOR       Y5, Y4, Y4; \
	SHLD4(5, Y0, Y3, Y5); \
	VPOR       Y5, Y4, Y4; \
	VPAND      Y4, Y0, Y0; \
	VMOVDQU    Y0, off(DI); \
	VPCMPEQQ   Y14, Y0, Y0; \
	VMOVMSKPD  Y0, AX; \
	VMOVDQU    off(R8), Y0; \
	PREV4(Y0, Y2, Y12, Y3); \
	VMOVDQA    Y2, Y12; \
	VPERMQ     $0x4e, Y0, Y2; \
	VPBLENDD   $0x0f, Y13, Y2, Y4; \
	VMOVDQA    Y2, Y13; \
	VPSLLQ     $1, Y3, Y5; \
	VPOR       Y5, Y3, Y3; \
	VPSRLQ     $1, Y4, Y5; \
	VPOR       Y5, Y4, Y4; \
	VPSLLQ     $1, Y3, Y1; \
	VPSRLQ     $62, Y4, Y5; \
	VPOR       Y5, Y1, Y1; \
	VPSLLQ     $13, Y3, Y5; \
	VPOR       Y5, Y1, Y1; \
	VPSRLQ     $50, Y4, Y5; \
	VPOR       Y5, Y1, Y1; \
	VPAND      Y1, Y0, Y0; \
	VMOVDQU    Y0, off(R9); \
	VPCMPEQQ   Y14, Y0, Y0; \
	VMOVMSKPD  Y0, BX; \
	VMOVDQU    off(R12), Y0; \
	VPCMPEQQ   Y14, Y0, Y0; \
	VMOVMSKPD  Y0, R13

// func marksAVX2(batches int, h, jc, lfs, crs, runs, ends, runsIn, endsIn, crsIn *uint64)
//
// marksAVX512 with AVX2, four words at a time: VPERMQ and VPBLENDD line
// up each word with the one before, two shifts and an OR shift one left
// and fill it from the one before.
TEXT ·marksAVX2(SB), NOSPLIT, $0-80
	MOVQ    batches+0(FP), CX
	MOVQ    h+8(FP), SI
	MOVQ    jc+16(FP), DX
	MOVQ    lfs+24(FP), R8
	MOVQ    crs+32(FP), R12
	MOVQ    runs+40(FP), DI
	MOVQ    ends+48(FP), R9
	MOVQ    runsIn+56(FP), R10
	MOVQ    endsIn+64(FP), R11
	MOVQ    crsIn+72(FP), R14
	VPXOR   Y8, Y8, Y8
	VPXOR   Y9, Y9, Y9
	VPXOR   Y10, Y10, Y10
	VPXOR   Y11, Y11, Y11
	VPXOR   Y12, Y12, Y12
	VPXOR   Y13, Y13, Y13
	VPXOR   Y14, Y14, Y14

marks2:
	MARKS4(0)
	NOTQ    AX
	ANDQ    $15, AX
	MOVB    AL, (R10)
	NOTQ    BX
	ANDQ    $15, BX
	MOVB    BL, (R11)
	NOTQ    R13
	ANDQ    $15, R13
	MOVB    R13B, (R14)
	MARKS4(32)
	NOTQ    AX
	SHLQ    $4, AX
	ORB     AL, (R10)
	NOTQ    BX
	SHLQ    $4, BX
	ORB     BL, (R11)
	NOTQ    R13
	SHLQ    $4, R13
	ORB     R13B, (R14)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, R8
	ADDQ    $64, R12
	ADDQ    $64, DI
	ADDQ    $64, R9
	INCQ    R10
	INCQ    R11
	INCQ    R14
	DECQ    CX
	JNZ     marks2
	VZEROUPPER
	RET

// func marksAVX512(batches int, h, jc, lfs, crs, runs, ends, runsIn, endsIn, crsIn *uint64)
//
// byteClasses.marksGo eight words at a time: VALIGNQ lines up each word
// with the one before (Z20-Z24 hold the previous batch's words), VPSHLDQ
// shifts a word left and fills it from the one before. A batch's eight
// words have one byte of each summary.
TEXT ·marksAVX512(SB), NOSPLIT, $0-80
	MOVQ    batches+0(FP), CX
	MOVQ    h+8(FP), SI
	MOVQ    jc+16(FP), DX
	MOVQ    lfs+24(FP), R8
	MOVQ    crs+32(FP), BX
	MOVQ    runs+40(FP), DI
	MOVQ    ends+48(FP), R9
	MOVQ    runsIn+56(FP), R10
	MOVQ    endsIn+64(FP), R11
	MOVQ    crsIn+72(FP), R12
	VPXORQ  Z20, Z20, Z20 // h
	VPXORQ  Z21, Z21, Z21 // jc
	VPXORQ  Z22, Z22, Z22 // joins
	VPXORQ  Z23, Z23, Z23 // joins with another before
	VPXORQ  Z24, Z24, Z24 // line feeds
	VPTERNLOGQ $0xff, Z31, Z31, Z31 // all ones

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
	VPTESTMQ   (BX), Z31, K1 // carriage returns
	KMOVB      K1, AX
	MOVB       AL, (R12)
	ADDQ       $64, R9
	ADDQ       $64, BX
	INCQ       R10
	INCQ       R11
	INCQ       R12
	DECQ       CX
	JNZ        marks
	VZEROUPPER
	RET

// The tables, once for each 128-bit lane.
DATA viewLo<>+0(SB)/8, VIEW_LO0
DATA viewLo<>+8(SB)/8, VIEW_LO1
DATA viewLo<>+16(SB)/8, VIEW_LO0
DATA viewLo<>+24(SB)/8, VIEW_LO1
GLOBL viewLo<>(SB), RODATA|NOPTR, $32

DATA viewHi<>+0(SB)/8, VIEW_HI0
DATA viewHi<>+8(SB)/8, VIEW_HI1
DATA viewHi<>+16(SB)/8, VIEW_HI0
DATA viewHi<>+24(SB)/8, VIEW_HI1
GLOBL viewHi<>(SB), RODATA|NOPTR, $32
