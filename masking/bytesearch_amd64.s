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

// func byteBitmapAVX2(p *byte, words int, out *uint64, c byte)
TEXT ·byteBitmapAVX2(SB), NOSPLIT, $0-25
	MOVQ    p+0(FP), SI
	MOVQ    words+8(FP), CX
	MOVQ    out+16(FP), DI
	MOVBLZX c+24(FP), AX
	VMOVD   AX, X0
	VPBROADCASTB X0, Y15

bitmap:
	VPCMPEQB  (SI), Y15, Y0
	VPCMPEQB  32(SI), Y15, Y1
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
