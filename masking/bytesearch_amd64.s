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

// func hexBitmapAVX2(p *byte, words int, out *uint64)
//
// A byte is in the class if c-'0' <= 10 ('0'-'9' and ':'), (c|0x20)-'a'
// <= 5 (hex letters), or it is ' ', '\', 'x' or '%' (unsigned bytes: a
// minimum equal to the difference is a comparison).
TEXT ·hexBitmapAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ words+8(FP), CX
	MOVQ out+16(FP), DI
	MOVL $0x30, AX
	VMOVD AX, X0
	VPBROADCASTB X0, Y15
	MOVL $10, AX
	VMOVD AX, X0
	VPBROADCASTB X0, Y14
	MOVL $0x20, AX
	VMOVD AX, X0
	VPBROADCASTB X0, Y13
	MOVL $0x61, AX
	VMOVD AX, X0
	VPBROADCASTB X0, Y12
	MOVL $5, AX
	VMOVD AX, X0
	VPBROADCASTB X0, Y11
	MOVL $0x5c, AX
	VMOVD AX, X0
	VPBROADCASTB X0, Y10
	MOVL $0x78, AX
	VMOVD AX, X0
	VPBROADCASTB X0, Y9
	MOVL $0x25, AX
	VMOVD AX, X0
	VPBROADCASTB X0, Y8

hexblock:
	VMOVDQU   (SI), Y0
	VMOVDQU   32(SI), Y5
	VPSUBB    Y15, Y0, Y1
	VPMINUB   Y14, Y1, Y2
	VPCMPEQB  Y2, Y1, Y1
	VPOR      Y13, Y0, Y3
	VPSUBB    Y12, Y3, Y3
	VPMINUB   Y11, Y3, Y4
	VPCMPEQB  Y4, Y3, Y3
	VPOR      Y3, Y1, Y1
	VPCMPEQB  Y13, Y0, Y3
	VPCMPEQB  Y10, Y0, Y4
	VPOR      Y3, Y4, Y4
	VPCMPEQB  Y9, Y0, Y3
	VPCMPEQB  Y8, Y0, Y2
	VPOR      Y3, Y2, Y2
	VPOR      Y4, Y1, Y1
	VPOR      Y2, Y1, Y1
	VPMOVMSKB Y1, AX
	VPSUBB    Y15, Y5, Y1
	VPMINUB   Y14, Y1, Y2
	VPCMPEQB  Y2, Y1, Y1
	VPOR      Y13, Y5, Y3
	VPSUBB    Y12, Y3, Y3
	VPMINUB   Y11, Y3, Y4
	VPCMPEQB  Y4, Y3, Y3
	VPOR      Y3, Y1, Y1
	VPCMPEQB  Y13, Y5, Y3
	VPCMPEQB  Y10, Y5, Y4
	VPOR      Y3, Y4, Y4
	VPCMPEQB  Y9, Y5, Y3
	VPCMPEQB  Y8, Y5, Y2
	VPOR      Y3, Y2, Y2
	VPOR      Y4, Y1, Y1
	VPOR      Y2, Y1, Y1
	VPMOVMSKB Y1, DX
	SHLQ      $32, DX
	ORQ       DX, AX
	MOVQ      AX, (DI)
	ADDQ      $64, SI
	ADDQ      $8, DI
	DECQ      CX
	JNZ       hexblock
	VZEROUPPER
	RET
