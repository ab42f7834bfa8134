package main

import (
	"context"
	"fmt"

	"github.com/songflow/songflow/calibration"
	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/stages"
)

// newAnalyzer starts the analysis pipeline every front door shares,
// applying the calibration map named by analysis.calibration when set.
func newAnalyzer(ctx context.Context, cfg config.Config) (*stages.Analyzer, error) {
	var opts []stages.Option
	if cfg.Analysis.Calibration != "" {
		m, err := calibration.Load(cfg.Analysis.Calibration)
		if err != nil {
			return nil, fmt.Errorf("analysis.calibration: %w", err)
		}
		opts = append(opts, stages.WithAdjust(m.Apply))
	}
	return stages.NewAnalyzer(ctx, cfg, opts...)
}
