package pipeline

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkNoopChain measures the engine's own cost: songs through a chain
// of stages that do nothing. ns/item/stage is the figure to keep under 2 µs.
func BenchmarkNoopChain(b *testing.B) {
	for _, stages := range []int{1, 4, 8} {
		b.Run(fmt.Sprint(stages, "stages"), func(b *testing.B) {
			p := New(context.Background(), Options{})
			in := NewInput[int](p, "in", 64)
			s := in.Stream()
			for i := range stages {
				s = Map(p, fmt.Sprint("noop", i), StageConfig{Workers: 1, Buffer: 64}, s,
					func(_ context.Context, v int) (int, error) { return v, nil })
			}
			out := s.Out()
			src, _ := in.Open()
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for i := range b.N {
					src.Submit(context.Background(), "s", i)
				}
				src.Close()
			}()
			for range out {
			}
			b.StopTimer()
			p.Wait()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(stages), "ns/item/stage")
		})
	}
}
