//go:build amd64 && !purego

package json

import "golang.org/x/sys/cpu"

// hasAVX2FMA is read-only after start-up: the CPU does not change.
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func dotI8AVX2(a *int8, b *int16, n int) int32

// dot is the kernel for one row: AVX2+FMA assembly where the CPU has it.
func dot(a, b []float32) float32 {
	n := min(len(a), len(b))
	if !hasAVX2FMA || n == 0 {
		return dotGeneric(a, b)
	}
	return dotAVX2(&a[0], &b[0], n)
}

// dotI8 is the exact integer dot product of an int8 row and an int16 query
// (the caller bounds it below 2^31): AVX2 for whole blocks of 16.
func dotI8(a []int8, b []int16) int32 {
	n := min(len(a), len(b))
	if !hasAVX2FMA || n < 16 {
		return dotI8Generic(a, b)
	}
	head := n &^ 15
	s := dotI8AVX2(&a[0], &b[0], head)
	if head < n {
		s += dotI8Generic(a[head:n], b[head:n])
	}
	return s
}
