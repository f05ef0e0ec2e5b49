//go:build !amd64 || purego

package json

func dot(a, b []float32) float32 { return dotGeneric(a, b) }
