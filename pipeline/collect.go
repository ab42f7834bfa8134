package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// gather holds the parts of the songs a Collect stage is waiting on.
type gather[I any] struct {
	mu      sync.Mutex
	groups  map[*Ticket]*group[I]
	expired []*Ticket     // songs whose deadline passed while parts were missing
	wake    chan struct{} // tells a worker that expired is not empty
	closed  bool
}

type group[I any] struct {
	parts []I
	have  []bool
	n     int
	timer *time.Timer
}

// drop forgets a song's parts.
func (g *gather[I]) drop(t *Ticket) {
	g.mu.Lock()
	if gr, ok := g.groups[t]; ok {
		gr.timer.Stop()
		delete(g.groups, t)
	}
	g.mu.Unlock()
}

// expire runs on the song's deadline timer. It must not block, so it only
// queues the song for a worker to emit its timeout.
func (g *gather[I]) expire(t *Ticket) {
	g.mu.Lock()
	if _, ok := g.groups[t]; !ok || g.closed {
		g.mu.Unlock()
		return
	}
	delete(g.groups, t)
	g.expired = append(g.expired, t)
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default: // a wake-up is already pending; it will see this song too
	}
}

func (g *gather[I]) takeExpired() []*Ticket {
	g.mu.Lock()
	defer g.mu.Unlock()
	ts := g.expired
	g.expired = nil
	return ts
}

// add stores one part. It returns the song's parts in order once all have
// arrived, or an error if the part does not fit its song; neither when the
// part is kept, or dropped because its song has failed.
func (g *gather[I]) add(it Item[I]) ([]I, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := it.Ticket
	gr := g.groups[t]
	if gr == nil {
		// The song may have failed since the caller looked. Whoever passed
		// its error on marked it failed before dropping its group under
		// g.mu, so looking again here, under g.mu, cannot miss that; a new
		// group would never complete, and would hold its parts and a timer
		// until the deadline.
		if t.failed.Load() {
			return nil, nil
		}
		gr = &group[I]{parts: make([]I, it.Parts), have: make([]bool, it.Parts)}
		gr.timer = time.AfterFunc(time.Until(t.start()), func() { g.expire(t) })
		g.groups[t] = gr
	}
	if it.Part < 0 || it.Part >= len(gr.parts) || it.Parts != len(gr.parts) || gr.have[it.Part] {
		gr.timer.Stop()
		delete(g.groups, t)
		return nil, fmt.Errorf("part %d of %d does not fit a song of %d parts", it.Part, it.Parts, len(gr.parts))
	}
	gr.parts[it.Part], gr.have[it.Part] = it.Value, true
	gr.n++
	if gr.n < len(gr.parts) {
		return nil, nil
	}
	gr.timer.Stop()
	delete(g.groups, t)
	return gr.parts, nil
}

// close stops every timer and returns the songs still owed a result.
func (g *gather[I]) close() (expired, incomplete []*Ticket, have, want []int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for t, gr := range g.groups {
		gr.timer.Stop()
		incomplete = append(incomplete, t)
		have, want = append(have, gr.n), append(want, len(gr.parts))
	}
	g.groups = nil
	expired, g.expired = g.expired, nil
	return expired, incomplete, have, want
}

// Collect adds a keyed fan-in stage: it gathers all Parts of each song,
// arriving in any order and interleaved with other songs' parts, calls fn
// with them in Part order, and emits one whole-song item. Parts wait in
// memory until their song is complete, so memory is bounded by the songs
// in flight rather than by buffers.
//
// As soon as one part of a song carries an error, Collect emits that error
// as the song's result and drops the song's other parts, whenever they come.
// When a song's deadline passes with parts still missing, Collect emits the
// timeout at once, from a timer, and late parts are dropped.
func Collect[I, O any](p *Pipeline, name string, cfg StageConfig, in Stream[I], fn func(context.Context, []I) (O, error)) Stream[O] {
	g := &gather[I]{groups: make(map[*Ticket]*group[I]), wake: make(chan struct{}, 1)}
	body := func(st *stage, w int, ch <-chan Item[I], e *emitter[O]) {
		for {
			select {
			case it, ok := <-ch:
				if !ok {
					return
				}
				if !collectOne(st, w, g, it, e, fn) {
					return
				}
			case <-g.wake:
				for _, t := range g.takeExpired() {
					if err := st.raise(t, st.timeoutErr()); err != nil {
						if !e.send(Item[O]{Ticket: t, Parts: 1, Err: err}) {
							return
						}
					}
				}
			case <-e.done:
				return
			}
		}
	}
	finish := func(e *emitter[O]) {
		expired, incomplete, have, want := g.close()
		if p.ctx.Err() != nil {
			return
		}
		st := e.st
		for _, t := range expired {
			if err := st.raise(t, st.timeoutErr()); err != nil && !e.send(Item[O]{Ticket: t, Parts: 1, Err: err}) {
				return
			}
		}
		// Parts can only be missing here if something between the split and
		// this stage lost them (a filter, say); the song still gets a result.
		for i, t := range incomplete {
			err := st.raise(t, fmt.Errorf("input ended with %d of %d parts", have[i], want[i]))
			if err != nil && !e.send(Item[O]{Ticket: t, Parts: 1, Err: err}) {
				return
			}
		}
	}
	return build(p, name, cfg, in, body, finish)
}

// collectOne handles one arriving part; false means the pipeline was
// cancelled.
func collectOne[I, O any](st *stage, w int, g *gather[I], it Item[I], e *emitter[O], fn func(context.Context, []I) (O, error)) bool {
	st.in.Add(1)
	t := it.Ticket
	if it.Err != nil {
		g.drop(t)
		return e.send(Item[O]{Ticket: t, Parts: 1, Err: it.Err})
	}
	if t.failed.Load() {
		g.drop(t)
		return true
	}
	var parts []I
	if it.Parts <= 1 {
		parts = []I{it.Value}
	} else {
		var err error
		if parts, err = g.add(it); err != nil {
			if err = st.raise(t, err); err != nil {
				return e.send(Item[O]{Ticket: t, Parts: 1, Err: err})
			}
			return true
		}
		if parts == nil {
			return true
		}
	}
	v, err, ok := apply(st, w, Item[[]I]{Ticket: t, Value: parts}, fn)
	if !ok {
		return true
	}
	return e.send(Item[O]{Ticket: t, Parts: 1, Value: v, Err: err})
}
