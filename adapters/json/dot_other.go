//go:build !amd64 || purego

package json

func dot(a, b []float32) float32 { return dotGeneric(a, b) }

func dotI8(a []int8, b []int16) int32 { return dotI8Generic(a, b) }
