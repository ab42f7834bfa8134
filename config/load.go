package config

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load returns the effective configuration: the built-in defaults,
// overridden by the file at path (none when path is ""), overridden by the
// environment as getenv reports it (os.LookupEnv in production). Flags are
// applied afterwards with Set. The Origins say where each value came from.
// Every error is an *Error.
func Load(path string, getenv func(string) (string, bool)) (Config, Origins, error) {
	c := Default()
	o := Origins{}
	for _, f := range fields {
		o[f.key] = "default"
	}
	var lines map[string]int
	if path != "" {
		data, err := readFile(path)
		if err != nil {
			return c, o, &Error{Msg: err.Error(), Origin: "file " + path}
		}
		if lines, err = decode(&c, o, string(data), "file "+path); err != nil {
			return c, o, err
		}
	}
	if getenv != nil {
		if err := applyEnv(&c, o, getenv); err != nil {
			return c, o, err
		}
	}
	if err := c.Validate(); err != nil {
		var e *Error
		if errors.As(err, &e) {
			blame(e, o, lines)
		}
		return c, o, err
	}
	return c, o, nil
}

// blame fills in where the value e is about came from. A check that
// compares its key with others (hop with fft_size) can fail on a value
// that was never set, the default hop, because of one that was, the
// file's fft_size; the error then names the key set with the highest
// precedence, its origin and line, and says which value it leaves out of
// range, so that it points where the user must make a change.
func blame(e *Error, o Origins, lines map[string]int) {
	at := func(key string) (origin string, line int) {
		origin = o[key]
		if strings.HasPrefix(origin, "file ") {
			line = lineOf(lines, key)
		}
		return origin, line
	}
	key := e.Key
	if f, ok := lookup(e.Key); ok {
		for _, k := range f.reads {
			if rank(o[k]) > rank(o[key]) {
				key = k
			}
		}
	}
	if key != e.Key {
		origin, line := at(e.Key)
		if line > 0 {
			origin += fmt.Sprintf(" line %d", line)
		}
		e.Msg = fmt.Sprintf("makes %s (%s) invalid: %s", e.Key, origin, e.Msg)
		e.Key = key
	}
	e.Origin, e.Line = at(key)
}

// rank orders origins by precedence: flag, environment, file, default.
func rank(origin string) int {
	switch {
	case origin == "flag":
		return 3
	case strings.HasPrefix(origin, "env "):
		return 2
	case strings.HasPrefix(origin, "file "):
		return 1
	}
	return 0
}

// ErrorAt reports a problem with key found by a check made outside this
// package (a calibration map that does not load) as Load reports its
// own: naming where the value came from and, for a file, its line.
func ErrorAt(o Origins, key, msg string) *Error {
	e := &Error{Key: key, Msg: msg, Origin: o[key]}
	if path, ok := strings.CutPrefix(e.Origin, "file "); ok {
		if data, err := readFile(path); err == nil {
			e.Line = lineOf(keyLines(string(data)), key)
		}
	}
	return e
}

// maxFileSize bounds the configuration file read. pipeline.toml with
// every key and its comment is 5 KB; a file past 1 MiB is no configuration
// but a mistake (/dev/zero, a recording, a log), and reading on would
// only use up memory.
const maxFileSize = 1 << 20

// readFile reads the configuration file at path, refusing one past
// maxFileSize. It reads through a limit rather than trusting the size
// stat reports, which a named pipe (--config <(…)) or a device lacks.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes (1 MiB): not a configuration file", maxFileSize)
	}
	return data, nil
}

// tomlErrLine finds the line BurntSushi/toml names in a type error.
var tomlErrLine = regexp.MustCompile(`line (\d+)`)

// decode applies a TOML document to c. It decodes into a generic map and
// walks it against the schema itself, so that unknown keys and wrong types
// are reported by key, first by line, rather than by reflection's view.
func decode(c *Config, o Origins, text, origin string) (map[string]int, error) {
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		e := &Error{Msg: err.Error(), Origin: origin}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			e.Line, e.Msg = pe.Position.Line, pe.Message
			// pe.LastKey is the last key parsed before the error: the
			// key at fault only when it is set on the error's line, and
			// otherwise another, such as the table above a bad value or
			// "stages" for a second [stages.decode], which the error must
			// not name.
			if k := pe.LastKey; k != "" && keyLines(text)[k] == e.Line {
				e.Key = k
			}
		} else if m := tomlErrLine.FindStringSubmatch(err.Error()); m != nil {
			fmt.Sscan(m[1], &e.Line)
		}
		return nil, e
	}
	lines := keyLines(text)
	var errs []*Error
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			if f, ok := lookup(key); ok {
				if err := f.bind(c).fromTOML(v); err != nil {
					errs = append(errs, &Error{Key: key, Line: lineOf(lines, key), Msg: err.Error(), Origin: origin})
					continue
				}
				o[key] = origin
				continue
			}
			sub, isMap := v.(map[string]any)
			switch {
			case isTable(key) && isMap:
				walk(key, sub)
			case isTable(key):
				errs = append(errs, &Error{Key: key, Line: lineOf(lines, key), Msg: fmt.Sprintf("want a table, got %s", tomlType(v)), Origin: origin})
			default:
				errs = append(errs, &Error{Key: key, Line: lineOf(lines, key), Msg: "unknown key", Origin: origin})
			}
		}
	}
	walk("", raw)
	if len(errs) > 0 {
		// Report the first in the file, so the same file always gives the
		// same error.
		sort.Slice(errs, func(i, j int) bool {
			if errs[i].Line != errs[j].Line {
				return errs[i].Line < errs[j].Line
			}
			return errs[i].Key < errs[j].Key
		})
		return lines, errs[0]
	}
	return lines, nil
}

// tableLine reads a [table] or [[array of tables]] header, keyLine a key,
// bare or quoted ("hop" = 256).
var (
	tableLine = regexp.MustCompile(`^\s*\[\[?\s*([A-Za-z0-9_.\-]+)\s*\]`)
	keyLine   = regexp.MustCompile(`^\s*["']?([A-Za-z0-9_.\-]+)["']?\s*=`)
)

// keyLines maps each dotted key to its line, for error messages: the TOML
// library keeps key positions to itself. It understands the plain
// `[table]` / `key = value` layout of pipeline.toml; keys it cannot place
// get no line.
func keyLines(text string) map[string]int {
	lines := map[string]int{}
	table := ""
	// A byte order mark, which editors on Windows may write and the TOML
	// library skips, would hide the first table's header.
	text = strings.TrimPrefix(text, "\ufeff")
	for i, l := range strings.Split(text, "\n") {
		if m := tableLine.FindStringSubmatch(l); m != nil {
			table = m[1]
			if _, seen := lines[table]; !seen {
				lines[table] = i + 1
			}
			continue
		}
		if m := keyLine.FindStringSubmatch(l); m != nil {
			key := m[1]
			if table != "" {
				key = table + "." + key
			}
			lines[key] = i + 1
		}
	}
	return lines
}

// lineOf returns the line of key, or failing that of the nearest table
// holding it: a key inside an inline table (fft = {workers = 0}) has no
// line of its own.
func lineOf(lines map[string]int, key string) int {
	for {
		if l, ok := lines[key]; ok {
			return l
		}
		i := strings.LastIndex(key, ".")
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
}

func applyEnv(c *Config, o Origins, getenv func(string) (string, bool)) error {
	for _, f := range fields {
		for _, name := range f.env {
			s, ok := getenv(name)
			if !ok || strings.TrimSpace(s) == "" {
				continue
			}
			if err := f.bind(c).parse(s); err != nil {
				return &Error{Key: f.key, Msg: err.Error(), Origin: "env " + name}
			}
			o[f.key] = "env " + name
		}
	}
	return nil
}

// Set applies one flag: key is the dotted key, value its text. The whole
// configuration is validated again; on error c is left unchanged.
func (c *Config) Set(key, value string, o Origins, origin string) error {
	f, ok := lookup(key)
	if !ok {
		return &Error{Key: key, Msg: "unknown key", Origin: origin}
	}
	old := *c
	if err := f.bind(c).parse(value); err != nil {
		return &Error{Key: key, Msg: err.Error(), Origin: origin}
	}
	if err := c.Validate(); err != nil {
		*c = old
		var e *Error
		if errors.As(err, &e) {
			seen := maps.Clone(o)
			if seen == nil {
				seen = Origins{}
			}
			seen[key] = origin
			blame(e, seen, nil)
		}
		return err
	}
	if o != nil {
		o[key] = origin
	}
	return nil
}

// Keys returns every dotted key, in pipeline.toml order.
func Keys() []string {
	ks := make([]string, len(fields))
	for i, f := range fields {
		ks[i] = f.key
	}
	return ks
}

// Validate checks every value's range and the relations between them
// (hop ≤ fft_size, overlap < chunk_seconds). The error is an *Error naming
// the first bad key.
func (c Config) Validate() error {
	for _, f := range fields {
		if f.check == nil {
			continue
		}
		if msg := f.check(&c); msg != "" {
			return &Error{Key: f.key, Msg: msg}
		}
	}
	return nil
}

// Write prints c as TOML, each value followed by a comment saying where it
// came from (o may be nil). The output loads back to the same Config.
func Write(w io.Writer, c Config, o Origins) error {
	var b strings.Builder
	table := ""
	for _, f := range fields {
		i := strings.LastIndex(f.key, ".")
		t, k := f.key[:i], f.key[i+1:]
		if t != table {
			if table != "" {
				b.WriteByte('\n')
			}
			fmt.Fprintf(&b, "[%s]\n", t)
			table = t
		}
		origin := o[f.key]
		if origin == "" {
			origin = "default"
		}
		fmt.Fprintf(&b, "%s = %s # %s\n", k, f.bind(&c).toml(), origin)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
