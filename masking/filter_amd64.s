//go:build amd64 && !purego

#include "textflag.h"
#include "viewclasses_amd64.h"

// The AVX2 version of matcher.filterGroupsGo; see filterGroupsAVX2 in
// filter_amd64.go. Registers kept across the loop:
//
//	Y15  k64 in each quadword      Y10  k32 in each doubleword
//	Y14  k64>>32 in each quadword  X9   the short filter's shift, 32 - log2(words)
//	Y13  long filter word mask     Y8   31 in each doubleword
//	Y12  1 in each quadword        Y7   1 in each doubleword
//	Y11  63 in each quadword
//
// SI is the group, DI its output word, R8 the long filter's words, R9 the
// short filter's.

// LONGBIT ors into Y1, for the hashes in Y0, the bit h>>shift&63.
#define LONGBIT(shift) \
	VPSRLQ     $shift, Y0, Y2; \
	VPAND      Y11, Y2, Y2; \
	VPSLLVQ    Y2, Y12, Y2; \
	VPOR       Y1, Y2, Y1

// LONG sets the low four bits of R to the long filter hits of the four
// windows at off(SI), off+8(SI), ...: h = w*k64 (a 64-bit multiply from
// three 32-bit ones), word fold(h)&mask, bits h>>58, h>>52&63, h>>46&63,
// h>>40&63 and h>>34&63.
#define LONG(off, R) \
	VMOVDQU    off(SI), Y0; \
	VPSRLQ     $32, Y0, Y1; \
	VPMULUDQ   Y15, Y1, Y1; \
	VPMULUDQ   Y14, Y0, Y2; \
	VPADDQ     Y1, Y2, Y1; \
	VPSLLQ     $32, Y1, Y1; \
	VPMULUDQ   Y15, Y0, Y2; \
	VPADDQ     Y1, Y2, Y0; \
	VPSRLQ     $32, Y0, Y1; \
	VPXOR      Y0, Y1, Y1; \
	VPAND      Y13, Y1, Y1; \
	VPCMPEQQ   Y2, Y2, Y2; \
	VPXOR      Y3, Y3, Y3; \
	VPGATHERQQ Y2, (R8)(Y1*8), Y3; \
	VPSRLQ     $58, Y0, Y1; \
	VPSLLVQ    Y1, Y12, Y1; \
	LONGBIT(52); \
	LONGBIT(46); \
	LONGBIT(40); \
	LONGBIT(34); \
	VPAND      Y1, Y3, Y3; \
	VPCMPEQQ   Y1, Y3, Y3; \
	VMOVMSKPD  Y3, R

// SHORT sets the low eight bits of R to the short filter hits of the
// eight windows at off(SI), off+4(SI), ...: h = w*k32, h ^= h>>15 (as
// shortMix), word h>>shift, bits h>>14&31 and h>>9&31.
#define SHORT(off, R) \
	VMOVDQU    off(SI), Y4; \
	VPMULLD    Y10, Y4, Y4; \
	VPSRLD     $15, Y4, Y5; \
	VPXOR      Y5, Y4, Y4; \
	VPSRLD     X9, Y4, Y5; \
	VPCMPEQD   Y6, Y6, Y6; \
	VPXOR      Y3, Y3, Y3; \
	VPGATHERDD Y6, (R9)(Y5*4), Y3; \
	VPSRLD     $14, Y4, Y5; \
	VPAND      Y8, Y5, Y5; \
	VPSLLVD    Y5, Y7, Y5; \
	VPSRLD     $9, Y4, Y6; \
	VPAND      Y8, Y6, Y6; \
	VPSLLVD    Y6, Y7, Y6; \
	VPOR       Y5, Y6, Y5; \
	VPAND      Y5, Y3, Y3; \
	VPCMPEQD   Y5, Y3, Y3; \
	VMOVMSKPS  Y3, R

// LONGS sets BX to the long windows' bits of the group.
#define LONGS \
	LONG(0, BX); \
	LONG(32, DX); \
	SHLQ $4, DX; \
	ORQ  DX, BX; \
	SHLQ $32, BX

// SHORTS ors the short windows at off(SI) into BX at bit shift.
#define SHORTS(off, shift) \
	SHORT(off, DX); \
	SHLQ $shift, DX; \
	ORQ  DX, BX

// func filterGroupsAVX2(q *byte, groups int, out *uint64, long *uint64, lmask uint64, short *uint64, sshift uint64, ss int)
TEXT ·filterGroupsAVX2(SB), NOSPLIT, $0-64
	MOVQ q+0(FP), SI
	MOVQ groups+8(FP), CX
	MOVQ out+16(FP), DI
	MOVQ long+24(FP), R8
	MOVQ lmask+32(FP), AX
	VMOVQ AX, X13
	VPBROADCASTQ X13, Y13
	MOVQ short+40(FP), R9
	MOVQ sshift+48(FP), AX
	VMOVQ AX, X9
	MOVQ ss+56(FP), R10

	MOVQ $0x9E3779B97F4A7C15, AX
	VMOVQ AX, X15
	VPBROADCASTQ X15, Y15
	SHRQ $32, AX
	VMOVQ AX, X14
	VPBROADCASTQ X14, Y14
	MOVQ $1, AX
	VMOVQ AX, X12
	VPBROADCASTQ X12, Y12
	MOVQ $63, AX
	VMOVQ AX, X11
	VPBROADCASTQ X11, Y11
	MOVL $0x9E3779B1, AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10
	MOVL $31, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	MOVL $1, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7

	TESTQ CX, CX
	JZ    done
	CMPQ  R10, $2
	JEQ   stride2
	CMPQ  R10, $4
	JEQ   stride4

stride0:
	LONGS
	MOVQ BX, (DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JNZ  stride0
	JMP  done

stride2:
	LONGS
	SHORTS(0, 0)
	SHORTS(32, 8)
	SHORTS(2, 16)
	SHORTS(34, 24)
	MOVQ BX, (DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JNZ  stride2
	JMP  done

stride4:
	LONGS
	SHORTS(0, 0)
	SHORTS(32, 8)
	MOVQ BX, (DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JNZ  stride4

done:
	VZEROUPPER
	RET

// The AVX-512 version (F, DQ): sixteen short windows or eight long ones
// per instruction, the long hash with VPMULLQ, a window's bits with
// rotates (which take the count modulo 64, so need no mask) and three-way
// ors. Registers as in the AVX2 version, widened to Z, and Z27-Z29; K1 is
// the gathers' mask, K2 their result.

// LONG8 sets BX to the long windows' bits of the group (bits 32-39).
#define LONG8 \
	VMOVDQU64  (SI), Z0; \
	VPMULLQ    Z15, Z0, Z0; \
	VPSRLQ     $32, Z0, Z1; \
	VPXORQ     Z0, Z1, Z1; \
	VPANDQ     Z13, Z1, Z1; \
	KXNORB     K1, K1, K1; \
	VPXORQ     Z3, Z3, Z3; \
	VPGATHERQQ (R8)(Z1*8), K1, Z3; \
	VPSRLQ     $58, Z0, Z1; \
	VPROLVQ    Z1, Z12, Z1; \
	VPSRLQ     $52, Z0, Z2; \
	VPROLVQ    Z2, Z12, Z2; \
	VPSRLQ     $46, Z0, Z27; \
	VPROLVQ    Z27, Z12, Z27; \
	VPSRLQ     $40, Z0, Z28; \
	VPROLVQ    Z28, Z12, Z28; \
	VPSRLQ     $34, Z0, Z29; \
	VPROLVQ    Z29, Z12, Z29; \
	VPTERNLOGQ $0xfe, Z2, Z27, Z1; \
	VPTERNLOGQ $0xfe, Z28, Z29, Z1; \
	VPANDQ     Z1, Z3, Z3; \
	VPCMPEQQ   Z1, Z3, K2; \
	KMOVB      K2, BX; \
	SHLQ       $32, BX

// SHORT16 ors into BX, from bit shift, the short filter hits of the
// sixteen windows at off(SI), off+4(SI), ...
#define SHORT16(off, shift) \
	VMOVDQU32  off(SI), Z4; \
	VPMULLD    Z10, Z4, Z4; \
	VPSRLD     $15, Z4, Z5; \
	VPXORD     Z5, Z4, Z4; \
	VPSRLD     X9, Z4, Z5; \
	KXNORW     K1, K1, K1; \
	VPXORD     Z3, Z3, Z3; \
	VPGATHERDD (R9)(Z5*4), K1, Z3; \
	VPSRLD     $14, Z4, Z5; \
	VPANDD     Z8, Z5, Z5; \
	VPSLLVD    Z5, Z7, Z5; \
	VPSRLD     $9, Z4, Z6; \
	VPANDD     Z8, Z6, Z6; \
	VPSLLVD    Z6, Z7, Z6; \
	VPORD      Z5, Z6, Z5; \
	VPANDD     Z5, Z3, Z3; \
	VPCMPEQD   Z5, Z3, K2; \
	KMOVW      K2, DX; \
	SHLQ       $shift, DX; \
	ORQ        DX, BX

// CLASSES classifies the 64 bytes at R11 into the words at R12 (h), R12
// + R13 (jc), + 2*R13 (lfs) and + 4*R13 (crs), as classesAVX2 does but
// into mask registers, and moves both on: the view classes of q's own
// 64-byte blocks, computed while the filter's gathers wait (Z16-Z26,
// K3-K6).
#define CLASSES \
	VMOVDQU64 (R11), Z24; \
	VPSRLW    $4, Z24, Z25; \
	VPANDQ    Z16, Z24, Z26; \
	VPANDQ    Z16, Z25, Z25; \
	VPSHUFB   Z26, Z17, Z26; \
	VPSHUFB   Z25, Z18, Z25; \
	VPANDQ    Z25, Z26, Z25; \
	VPTESTMB  Z19, Z25, K3; \
	VPTESTMB  Z20, Z25, K4; \
	VPCMPEQB  Z21, Z25, K5; \
	VPCMPEQB  Z22, Z25, K6; \
	KMOVQ     K3, (R12); \
	KMOVQ     K4, (R12)(R13*1); \
	KMOVQ     K5, (R12)(R13*2); \
	KMOVQ     K6, (R12)(R13*4); \
	ADDQ      $64, R11; \
	ADDQ      $8, R12

// func filterGroupsAVX512(q *byte, groups int, out *uint64, long *uint64, lmask uint64, short *uint64, sshift uint64, ss int, cq *byte, cls *uint64, stride uintptr)
TEXT ·filterGroupsAVX512(SB), NOSPLIT, $0-88
	MOVQ cq+64(FP), R11
	MOVQ cls+72(FP), R12
	MOVQ stride+80(FP), R13
	TESTQ R12, R12
	JZ   noclasses
	MOVL $0x0f, AX
	VPBROADCASTB AX, Z16
	MOVQ VIEW_LO0, AX
	VMOVQ AX, X17
	MOVQ VIEW_LO1, AX
	VPINSRQ $1, AX, X17, X17
	VSHUFI64X2 $0, Z17, Z17, Z17
	MOVQ VIEW_HI0, AX
	VMOVQ AX, X18
	MOVQ VIEW_HI1, AX
	VPINSRQ $1, AX, X18, X18
	VSHUFI64X2 $0, Z18, Z18, Z18
	MOVL $0x06, AX
	VPBROADCASTB AX, Z19
	MOVL $0x31, AX
	VPBROADCASTB AX, Z20
	MOVL $0x40, AX
	VPBROADCASTB AX, Z21
	MOVL $0x08, AX
	VPBROADCASTB AX, Z22

noclasses:
	MOVQ q+0(FP), SI
	MOVQ groups+8(FP), CX
	MOVQ out+16(FP), DI
	MOVQ long+24(FP), R8
	MOVQ lmask+32(FP), AX
	VPBROADCASTQ AX, Z13
	MOVQ short+40(FP), R9
	MOVQ sshift+48(FP), AX
	VMOVQ AX, X9
	MOVQ ss+56(FP), R10

	MOVQ $0x9E3779B97F4A7C15, AX
	VPBROADCASTQ AX, Z15
	MOVQ $1, AX
	VPBROADCASTQ AX, Z12
	MOVL $0x9E3779B1, AX
	VPBROADCASTD AX, Z10
	MOVL $31, AX
	VPBROADCASTD AX, Z8
	MOVL $1, AX
	VPBROADCASTD AX, Z7

	TESTQ CX, CX
	JZ    done512
	CMPQ  R10, $2
	JEQ   stride2w
	CMPQ  R10, $4
	JEQ   stride4w

	// Each loop classifies q's blocks too if R12 is not nil, a branch
	// that goes the same way every time.
stride0w:
	LONG8
	TESTQ R12, R12
	JZ    classed0
	CLASSES

classed0:
	MOVQ BX, (DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JNZ  stride0w
	JMP  done512

stride2w:
	LONG8
	TESTQ R12, R12
	JZ    classed2
	CLASSES

classed2:
	SHORT16(0, 0)
	SHORT16(2, 16)
	MOVQ BX, (DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JNZ  stride2w
	JMP  done512

stride4w:
	LONG8
	TESTQ R12, R12
	JZ    classed4
	CLASSES

classed4:
	SHORT16(0, 0)
	MOVQ BX, (DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JNZ  stride4w

done512:
	VZEROUPPER
	RET
