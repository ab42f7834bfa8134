package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/server"
	"github.com/songflow/songflow/stages"
	"github.com/songflow/songflow/store"
)

// shutdownGrace is how long requests in flight may take to finish once a
// shutdown begins, before they are cancelled.
const shutdownGrace = 30 * time.Second

// runServe runs the HTTP server until SIGINT/SIGTERM (ctx) or POST
// /shutdown, then shuts down gracefully and returns 0.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("serve", "usage: songflow serve [--config FILE] [--addr HOST:PORT]", stderr)
	addrFlag := fs.String("addr", "", "listen address HOST:PORT (default server.addr, 127.0.0.1:5050)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "songflow serve: unexpected argument %q\n", pos[0])
		return 2
	}
	cfg, _, ok := loadConfig(*path, stderr)
	if !ok {
		return 2
	}
	addr, err := listenAddr(cfg.Server.Addr, *addrFlag, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "songflow serve: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(serveProcs(cfg, runtime.NumCPU()))
	}

	st, err := store.Open(ctx, cfg.Server.DBPath)
	if err != nil {
		fmt.Fprintf(stderr, "songflow serve: %v\n", err)
		return 1
	}
	defer st.Close()
	version, err := analyzerVersion(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "songflow serve: %v\n", err)
		return 2
	}
	// The pipeline must outlive ctx: a signal starts the same graceful
	// shutdown as /shutdown, in which the songs in flight get the grace
	// period to finish. Once Serve has returned nobody waits for a song,
	// so what is left is cancelled rather than waited for.
	actx, stopAnalyzer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAnalyzer()
	a, err := newAnalyzer(actx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "songflow serve: %v\n", err)
		return 2
	}
	defer func() {
		stopAnalyzer()
		a.Close()
	}()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "songflow serve: %v\n", err)
		return 1
	}
	_, portText, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(portText)
	srv, err := server.New(a, st, serverOptions(cfg, port, version, log))
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "songflow serve: %v\n", err)
		return 2
	}
	if host, _, _ := net.SplitHostPort(addr); !cfg.Server.Production && !isLoopbackHost(host) {
		log.Warn("listening beyond this machine without production mode: every route is open", "addr", addr)
	}
	fmt.Fprintf(stdout, "songflow serve: listening on http://%s (database %s, analyzer %s)\n", ln.Addr(), st.Path(), version)
	if err := srv.Serve(ctx, ln, shutdownGrace); err != nil {
		fmt.Fprintf(stderr, "songflow serve: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "songflow serve: stopped")
	return 0
}

// serveProcs is the GOMAXPROCS serve runs with: enough Ps that one is
// always idle however many stage workers are busy. When every P is running
// an analysis worker, a request woken by the network waits in the global
// run queue for one of them to yield, and /health took 60–200 ms on two
// busy cores; with a spare P it runs at once and the kernel shares the
// cores (p50 0.5 ms).
func serveProcs(cfg config.Config, cpus int) int {
	workers := 0
	for _, s := range stageConfigs(cfg.Stages) {
		workers += max(s.Workers, 1)
	}
	return max(cpus, workers+2)
}

// listenAddr combines server.addr, the old server's MAC_STUDIO_SERVER_HOST
// and MAC_STUDIO_SERVER_PORT, and --addr, in increasing precedence.
func listenAddr(configured, flagAddr string, getenv func(string) (string, bool)) (string, error) {
	if flagAddr != "" {
		if _, _, err := net.SplitHostPort(flagAddr); err != nil {
			return "", fmt.Errorf("--addr %q: %w", flagAddr, err)
		}
		return flagAddr, nil
	}
	host, port, err := net.SplitHostPort(configured)
	if err != nil {
		return "", fmt.Errorf("server.addr %q: %w", configured, err)
	}
	if h, ok := getenv("MAC_STUDIO_SERVER_HOST"); ok && h != "" {
		host = h
	}
	if p, ok := getenv("MAC_STUDIO_SERVER_PORT"); ok && p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
			return "", fmt.Errorf("MAC_STUDIO_SERVER_PORT %q is not a port", p)
		}
		port = p
	}
	return net.JoinHostPort(host, port), nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// analyzerVersion is the analyzer identity cached results are keyed by:
// the analysis code's version plus a digest of every setting that changes
// results (an edited calibration or a different max_seconds must not
// reuse old answers).
func analyzerVersion(cfg config.Config) (string, error) {
	an := cfg.Analysis
	h := sha256.New()
	fmt.Fprintf(h, "%d %d %d %g %g %d %g %q\n", an.SampleRate, an.FFTSize, an.Hop, an.ChunkSeconds,
		an.ChunkOverlapSeconds, an.MaxChunks, an.MaxSeconds, an.KeyProfile)
	if an.Calibration != "" {
		data, err := os.ReadFile(an.Calibration)
		if err != nil {
			return "", fmt.Errorf("analysis.calibration: %w", err)
		}
		h.Write(data)
	}
	return stages.AnalyzerVersion + "+" + hex.EncodeToString(h.Sum(nil))[:8], nil
}

func serverOptions(cfg config.Config, port int, version string, log *slog.Logger) server.Options {
	s, an, stg := cfg.Server, cfg.Analysis, cfg.Stages
	return server.Options{
		Port:               port,
		Version:            buildVersion(),
		AnalyzerVersion:    version,
		MaxBodyBytes:       int64(s.MaxBodyMB) << 20,
		AnalysisTimeout:    time.Duration(s.AnalysisTimeout * float64(time.Second)),
		Production:         s.Production,
		RateLimitPerMinute: noLimitIfZero(s.RateLimitPerMinute),
		MaxInFlight:        s.MaxInFlight,
		QueueWait:          time.Duration(s.QueueWait * float64(time.Second)),
		AllowPrivateURLs:   s.AllowPrivateURLs,
		Analysis: server.AnalysisSettings{
			SampleRate:  an.SampleRate,
			FFTSize:     an.FFTSize,
			MaxSeconds:  an.MaxSeconds,
			MaxDuration: an.MaxDuration,
			Workers: map[string]int{"decode": stg.Decode.Workers, "resample": stg.Resample.Workers,
				"chunk": stg.Chunk.Workers, "fft": stg.FFT.Workers, "aggregate": stg.Aggregate.Workers},
			ChunkAnalysis: an.MaxChunks > 0,
			ChunkSeconds:  an.ChunkSeconds,
			MaxChunks:     an.MaxChunks,
		},
		Logger: log,
	}
}

// buildVersion is songflow's module version as the Go toolchain recorded
// it, "dev" for a build from a work tree.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// noLimitIfZero maps pipeline.toml's "0 = no limit" onto server.Options,
// where 0 means the default and a negative value means no limit.
func noLimitIfZero(perMinute int) int {
	if perMinute == 0 {
		return -1
	}
	return perMinute
}
