// Package pipeline is songflow's dataflow engine: songs flow through named,
// typed stages connected by bounded channels, each stage run by its own pool
// of workers.
//
// A pipeline is built once and then fed for as long as it lives:
//
//	p := pipeline.New(ctx, pipeline.Options{SongTimeout: 2 * time.Minute})
//	in := pipeline.NewInput[stages.Job](p, "jobs", 4)
//	songs := pipeline.Map(p, "decode", cfg.Decode, in.Stream(), decodeFn)
//	…
//	r := pipeline.NewRouter(p, results, nil)
//	src, _ := in.Open()
//	item, err := pipeline.Call(ctx, src, r, "x.wav", job)
//
// Each song is identified by a [Ticket] that travels with every part of it.
// A stage that fails on a song turns that song's item into an error item
// ([StageError]) which later stages pass through untouched, so one bad song
// never stops the others; a panic is recovered into the same kind of error,
// and a song past its deadline ends as [ErrTimeout]. Cancelling the
// pipeline's context stops every goroutine and closes every channel.
//
// Why not go-streams' flow.Map, which the engine interoperates with (see
// [Flow], [Outlet], [Inlet])? Its channels are unbuffered and unbounded
// goroutines are spawned per element, so memory is not bounded by a
// configuration; its elements are untyped (any) with no place for an
// error, so one failing song must either panic or vanish; it has no
// context, so it cannot be stopped; and it measures nothing. The engine's
// stages keep a configured buffer and worker count, carry each song's error
// and deadline in a typed envelope ([Item]), stop on context cancellation,
// and keep metrics ([Snapshot]) that name the bottleneck stage.
package pipeline
