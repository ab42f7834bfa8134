// Package reports turns a calibration run into numbers and pictures: it
// scores tempo, key and time signature estimates against ground truth
// (Accuracy1, Accuracy2, the MIREX weighted key score, meter classes),
// reads that truth from a folder's truth.csv, a Spotify playlist export
// or the songs' tags, and writes the report folder: results.json,
// results.csv, summary.md and PNG plots of accuracy, stage utilisation,
// queue depth and throughput.
package reports
