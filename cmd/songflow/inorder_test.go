package main

import (
	"context"
	"slices"
	"testing"
	"time"
)

// Songs enter the pipeline in the order given, however the scheduler runs
// their goroutines: here each later call is quicker to reach the input,
// as the goroutine the scheduler runs first often is, and the input takes
// one song at a time. Before calls took turns, the first file of an
// `analyze` of 96 files could wait 20 s behind later ones, and its line
// (printed in order) with it.
func TestInOrderEntersInOrder(t *testing.T) {
	const n = 12
	input := make(chan int) // a full pipeline: one song at a time
	var order []int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range input {
			order = append(order, i)
		}
	}()
	started := inOrder(context.Background(), n, n, func(i int, entered func()) {
		time.Sleep(time.Duration(n-i) * 3 * time.Millisecond)
		input <- i
		entered()
	})
	close(input)
	<-done
	if started != n {
		t.Fatalf("started %d of %d", started, n)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(order, want) {
		t.Errorf("songs entered in the order %v, want %v", order, want)
	}
}

// A call that never says it entered (it failed first) still lets the next
// one go when it returns.
func TestInOrderTurnPassesOnReturn(t *testing.T) {
	var got []int
	inOrder(context.Background(), 3, 3, func(i int, entered func()) {
		time.Sleep(time.Duration(3-i) * 3 * time.Millisecond)
		got = append(got, i) // safe: the calls run one after another here
	})
	if !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("calls ran in the order %v, want [0 1 2]", got)
	}
}
