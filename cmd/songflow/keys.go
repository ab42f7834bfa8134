package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/songflow/songflow/store"
)

const keysUsage = `usage:
  songflow keys create [--name NAME] [--config FILE] [--db PATH]   print a new API key (shown once)
  songflow keys list [--config FILE] [--db PATH]                   every key, without the secrets
  songflow keys revoke ID|PREFIX [--config FILE] [--db PATH]       stop a key working
`

// runKeys manages the API keys production mode requires. Keys live hashed
// in the server's database (server.db_path).
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	sub := args[0]
	if sub == "-h" || sub == "-help" || sub == "--help" {
		fmt.Fprint(stderr, keysUsage)
		return 0
	}
	fs, path := newFlags("keys "+sub, strings.TrimSuffix(keysUsage, "\n"), stderr)
	db := fs.String("db", "", "database file (default server.db_path)")
	name := fs.String("name", "", "what the key is for (create)")
	rest, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagExit(err)
	}
	wantArgs := 0
	if sub == "revoke" {
		wantArgs = 1
	}
	switch sub {
	case "create", "list", "revoke":
	default:
		fmt.Fprintf(stderr, "songflow keys: unknown subcommand %q\n%s", sub, keysUsage)
		return 2
	}
	if len(rest) != wantArgs {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	dbPath := *db
	if dbPath == "" {
		cfg, _, ok := loadConfig(*path, stderr)
		if !ok {
			return 2
		}
		dbPath = cfg.Server.DBPath
	}
	if sub != "create" {
		// Opening makes the database: a mistyped --db would list no
		// keys, or revoke none, in a new empty file, as if all were well.
		if _, err := os.Stat(dbPath); err != nil {
			fmt.Fprintf(stderr, "songflow keys: no database at %s (serve or keys create makes one): %v\n", dbPath, err)
			return 1
		}
	}
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		fmt.Fprintf(stderr, "songflow keys: %v\n", err)
		return 1
	}
	defer st.Close()

	switch sub {
	case "create":
		if *name == "" {
			*name = "unnamed"
		}
		secret, k, err := st.CreateKey(ctx, *name)
		if err != nil {
			fmt.Fprintf(stderr, "songflow keys: %v\n", err)
			return 1
		}
		if _, err := fmt.Fprintf(stdout, "%s\n", secret); err != nil {
			// The secret is shown only here: a key nobody could read
			// must not stay active.
			msg := fmt.Sprintf("key %d revoked", k.ID)
			if _, rerr := st.RevokeKey(context.WithoutCancel(ctx), strconv.FormatInt(k.ID, 10)); rerr != nil {
				msg = fmt.Sprintf("key %d (%s…) is active but its secret is lost: revoke it (%v)", k.ID, k.Prefix, rerr)
			}
			fmt.Fprintf(stderr, "songflow keys: print the new key: %v; %s\n", err, msg)
			return 1
		}
		fmt.Fprintf(stderr, "created key %d (%s, %s…); it is shown only this once: send it as X-API-Key\n", k.ID, k.Name, k.Prefix)
	case "list":
		keys, err := st.Keys(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "songflow keys: %v\n", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tCREATED\tSTATUS")
		for _, k := range keys {
			status := "active"
			if k.Revoked() {
				status = "revoked " + k.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s…\t%s\t%s\n", k.ID, k.Name, k.Prefix, k.CreatedAt.Format(time.RFC3339), status)
		}
		tw.Flush()
	case "revoke":
		k, err := st.RevokeKey(ctx, rest[0])
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(stderr, "songflow keys: no active key %q\n", rest[0])
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "songflow keys: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "revoked key %d (%s, %s…)\n", k.ID, k.Name, k.Prefix)
	}
	return 0
}
