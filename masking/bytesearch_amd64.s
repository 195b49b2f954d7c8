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

// func viewBitsAVX2(p *byte, words int, joins, lfs *uint64) (nul bool)
//
// Classifies each byte by its two nibbles with two table lookups (VPSHUFB):
// viewHi has a bit for each high nibble of a byte of interest (2: ' ' '%',
// 3: '0'-'9' and, a bit of its own, ':', 4 and 6: 'A'-'F' 'a'-'f', 7: 'x'),
// viewLo the bits of the high nibbles with which the low nibble makes one;
// the byte is a hex digit if the two share a bit of 6, a join byte (':',
// ' ', 'x', '%') if they share one of 0x31. joins[w] gets the join bytes
// of block w followed by two digits, for all blocks but the last (whose
// digits after it are not read); lfs[w] the line feeds of block w. It
// returns whether a byte is NUL.
TEXT ·viewBitsAVX2(SB), NOSPLIT, $0-33
	MOVQ    p+0(FP), SI
	MOVQ    words+8(FP), CX
	MOVQ    joins+16(FP), DI
	MOVQ    lfs+24(FP), R8
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
	XORQ    R10, R10 // the previous block's join bytes
	XORQ    R11, R11 // and digits
	XORQ    R12, R12 // 1 after the first block

viewblock:
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
	MOVQ      AX, (R8)
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
	VPMOVMSKB Y4, R9
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
	NOTQ      BX // digits
	SHLQ      $32, DX
	ORQ       DX, R9
	NOTQ      R9 // join bytes
	// The previous block's joins: its join bytes before two digits.
	TESTQ     R12, R12
	JZ        first
	MOVQ      R11, AX
	SHRQ      $1, AX
	MOVQ      BX, DX
	SHLQ      $63, DX
	ORQ       DX, AX
	ANDQ      AX, R10
	MOVQ      R11, AX
	SHRQ      $2, AX
	MOVQ      BX, DX
	SHLQ      $62, DX
	ORQ       DX, AX
	ANDQ      AX, R10
	MOVQ      R10, (DI)
	ADDQ      $8, DI

first:
	MOVQ      $1, R12
	MOVQ      R9, R10
	MOVQ      BX, R11
	ADDQ      $64, SI
	ADDQ      $8, R8
	DECQ      CX
	JNZ       viewblock
	VPMOVMSKB Y8, AX
	TESTL     AX, AX
	SETNE     nul+32(FP)
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
