#!/bin/sh
# make.sh renders the calibration set: gen writes every song as WAV plus
# truth.csv, then the songs meant to be FLAC, MP3 or M4A are encoded with
# flac, lame and ffmpeg. The outputs are committed, so only someone changing
# the set needs these encoders. Run from anywhere: sh testdata/calibration/make.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$repo" && go run ./testdata/calibration/gen -out "$tmp") > "$tmp/list"
rm -f "$here"/*.wav "$here"/*.flac "$here"/*.mp3 "$here"/*.m4a
cp "$tmp/truth.csv" "$here/truth.csv"

while read -r wav target; do
	out="$here/$target"
	case "$target" in
	*.wav)  cp "$wav" "$out" ;;
	*.flac) flac --silent --best --no-seektable -o "$out" "$wav" </dev/null ;;
	# lame would lower the sample rate at this bitrate; keep the source's
	# (read from the WAV header) so the 44.1 kHz stereo song stays one.
	*.mp3)  rate=$(od -An -tu4 -j24 -N4 "$wav" | tr -d ' ')
		lame --quiet --noreplaygain -b 80 --resample "$(echo "$rate" | sed 's/\(..\)\(.*\)/\1.\2/')" \
			"$wav" "$out" </dev/null ;;
	*.m4a)  ffmpeg -nostdin -loglevel error -y -i "$wav" -c:a aac -b:a 64k \
			-map_metadata -1 -fflags +bitexact -flags:a +bitexact "$out" ;;
	*) echo "make.sh: unknown format $target" >&2; exit 1 ;;
	esac
done < "$tmp/list"

cat > "$here/notes.txt" <<'NOTE'
This file is not audio: songflow calibrate lists it as skipped.
The songs here are rendered by gen/main.go and encoded by make.sh;
truth.csv states the tempo, key and time signature each was rendered at.
NOTE
du -ch "$here"/*.wav "$here"/*.flac "$here"/*.mp3 "$here"/*.m4a | tail -1
