package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/songflow/songflow/calibration"
	"github.com/songflow/songflow/config"
)

// defaultConfigFile is read when no --config is given and it exists.
const defaultConfigFile = "pipeline.toml"

// loadConfig reads the configuration the way every subcommand does:
// built-in defaults, then path (or ./pipeline.toml when path is empty and
// the file exists), then the environment. It reports problems on stderr.
// Beyond config.Load's own checks it refuses what checkLoaded does.
func loadConfig(path string, stderr io.Writer) (config.Config, config.Origins, bool) {
	return loadConfigFor(path, stderr, true)
}

// loadConfigFor is loadConfig; withCalibration false leaves the
// calibration map unchecked, for `calibrate --fit`, which fits a new map
// in place of the configured one and must not be refused for it.
func loadConfigFor(path string, stderr io.Writer, withCalibration bool) (config.Config, config.Origins, bool) {
	if path == "" {
		if _, err := os.Stat(defaultConfigFile); err == nil {
			path = defaultConfigFile
		}
	}
	cfg, origins, err := config.Load(path, os.LookupEnv)
	if err == nil {
		err = checkLoaded(cfg, origins, withCalibration)
	}
	if err != nil {
		fmt.Fprintf(stderr, "songflow: %v\n", err)
		return cfg, origins, false
	}
	return cfg, origins, true
}

// checkLoaded refuses, as config.Load refuses an out-of-range value, an
// analysis.calibration map that does not load (unless withCalibration is
// false). config cannot check it itself: the map's reader needs the
// analysis's result type, which needs config. The error is a
// *config.Error naming the key, where its value came from and, for a
// file, the line.
func checkLoaded(c config.Config, o config.Origins, withCalibration bool) error {
	// The map is read by calibration.Load, as newAnalyzer reads it when
	// the pipeline starts, from the same path: a relative one is taken
	// from the current folder, not from the configuration file's.
	if p := c.Analysis.Calibration; withCalibration && p != "" {
		if _, err := calibration.Load(p); err != nil {
			msg := err.Error()
			// The hint only helps when the file was looked for in the
			// wrong folder; a map that was found but is damaged is not.
			if !filepath.IsAbs(p) && errors.Is(err, fs.ErrNotExist) {
				msg += " (a relative path is taken from the current folder)"
			}
			return config.ErrorAt(o, "analysis.calibration", msg)
		}
	}
	return nil
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
		// The file alone, without the environment; it must also pass
		// checkLoaded, as loadConfig would have it.
		cfg, origins, err := config.Load(*check, nil)
		if err == nil {
			err = checkLoaded(cfg, origins, true)
		}
		if err != nil {
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
