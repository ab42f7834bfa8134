package dsp

import "math"

// log1pNonNeg is ln(1+y) for y ≥ 0, as fastLog(1+y): rounding 1+y moves
// the result by at most 1.2e-16 and fastLog is good to 2e-13, so
// the error is absolute, not relative, which is what the flux's
// differences of logs need. Infinite, NaN or negative y go to math.Log1p.
func log1pNonNeg(y float64) float64 {
	if y >= 0 && y <= math.MaxFloat64 {
		return fastLog(1 + y)
	}
	return math.Log1p(y)
}

// logTableBits is how many leading mantissa bits index the tables of
// fastLog.
const logTableBits = 8

// logTableLn[i] is ln(1 + i/256) and logTableInv[i] its argument's
// inverse, for the mantissas that fastLog starts from.
var logTableLn, logTableInv = func() (ln, inv [1 << logTableBits]float64) {
	for i := range ln {
		c := 1 + float64(i)/(1<<logTableBits)
		ln[i], inv[i] = math.Log(c), 1/c
	}
	return ln, inv
}()

// fastLog is the natural logarithm of a positive, finite, normal x (the
// caller rules out the rest): the exponent from the bits, the mantissa m
// in [1, 2) as the tabulated c = 1 + i/256 just below it times 1 + r,
// r = (m−c)/c in [0, 1/256), and ln(1 + r) by its series to r⁴ (error
// below r⁵/5 < 2e-13). It skips math.Log's special cases and division,
// and costs a fraction of it: the onset flux takes a logarithm per band
// per frame, chroma several per spectral peak.
func fastLog(x float64) float64 {
	b := math.Float64bits(x)
	e := float64(int64(b>>52&0x7ff) - 1023)
	i := b >> (52 - logTableBits) & (1<<logTableBits - 1)
	m := math.Float64frombits(b&(1<<52-1) | 1023<<52) // [1, 2)
	c := math.Float64frombits(i<<(52-logTableBits) | 1023<<52)
	r := (m - c) * logTableInv[i]
	r2 := r * r
	return (e*math.Ln2 + logTableLn[i]) + (r - r2*((0.5-r*(1.0/3))+r2*0.25))
}
