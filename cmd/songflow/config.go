package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/songflow/songflow/config"
)

// defaultConfigFile is read when no --config is given and it exists.
const defaultConfigFile = "pipeline.toml"

// loadConfig reads the configuration the way every subcommand does:
// built-in defaults, then path (or ./pipeline.toml when path is empty and
// the file exists), then the environment. It reports problems on stderr.
func loadConfig(path string, stderr io.Writer) (config.Config, config.Origins, bool) {
	if path == "" {
		if _, err := os.Stat(defaultConfigFile); err == nil {
			path = defaultConfigFile
		}
	}
	cfg, origins, err := config.Load(path, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "songflow: %v\n", err)
		return cfg, origins, false
	}
	return cfg, origins, true
}

// runConfig prints the effective configuration, or validates a file.
func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("config", "usage: songflow config [--config FILE] [--check FILE]", stderr)
	check := fs.String("check", "", "validate this configuration file and exit")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "songflow config: unexpected argument %q\n", pos[0])
		return 2
	}
	if *check != "" {
		if err := config.Check(*check); err != nil {
			fmt.Fprintf(stderr, "songflow config: %v\n", err)
			return 2
		}
		fmt.Fprintf(stdout, "%s: ok\n", *check)
		return 0
	}
	cfg, origins, ok := loadConfig(*path, stderr)
	if !ok {
		return 2
	}
	if err := config.Write(stdout, cfg, origins); err != nil && !errors.Is(err, io.ErrShortWrite) {
		fmt.Fprintf(stderr, "songflow config: %v\n", err)
		return 1
	}
	return 0
}
