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
