//go:build amd64 && !purego

package json

import "golang.org/x/sys/cpu"

// hasAVX2FMA is read-only after start-up: the CPU does not change.
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dotAVX2(a, b *float32, n int) float32

// dot is the kernel for one row: AVX2+FMA assembly where the CPU has it.
func dot(a, b []float32) float32 {
	n := min(len(a), len(b))
	if !hasAVX2FMA || n == 0 {
		return dotGeneric(a, b)
	}
	return dotAVX2(&a[0], &b[0], n)
}
