// The view classes' nibble tables (see classesAVX2 in bytesearch_amd64.s),
// 16 bytes each as two little-endian quadwords, shared by the AVX2 kernel
// and the AVX-512 filter, which classifies as it filters.
#define VIEW_LO0 $0x0206070606060603
#define VIEW_LO1 $0x0000080000600212
#define VIEW_HI0 $0x1004000422010048
#define VIEW_HI1 $0x0000000000000000
