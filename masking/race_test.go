//go:build race

package masking

// raceEnabled scales down the randomized tests under the race detector,
// which slows them tenfold.
const raceEnabled = true
