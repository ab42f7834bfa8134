// Package stages holds songflow's five analysis stages, one file each:
// decode → resample → chunk → fft → aggregate. Each stage is a plain
// function the engine in package pipeline runs on a pool of workers; the
// signal processing they call lives in package dsp.
package stages
