#!/bin/sh
# make.sh regenerates the decode fixtures and ffmpeg's reference decodes of
# them. It needs sox, flac, lame, ffmpeg and python3 (Debian: apt-get install
# sox flac lame ffmpeg); the tests themselves need none of them, only the
# committed output.
#
# For each good fixture X it writes X.ref: ffmpeg's decode, interleaved,
# as f32le for the lossless formats (compared bit for bit) and as s16le for
# MP3 and AAC (compared by SNR, where 16 bits are plenty).
set -eu
cd "$(dirname "$0")"
rm -f ./*.wav ./*.aif ./*.aiff ./*.aifc ./*.caf ./*.flac ./*.mp3 ./*.m4a ./*.mov ./*.aac ./*.ogg ./*.ref ./*.bin ./*.opus
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

FF="ffmpeg -hide_banner -loglevel error -y"

# A signal with something in every band: a rising sweep, a chord, and a
# little noise, faded in and out so no encoder clips.
synth() { # rate channels seconds out [sox output options]
	rate=$1 ch=$2 dur=$3 out=$4
	shift 4
	gens=""
	i=0
	while [ $i -lt "$ch" ]; do
		case $((i % 3)) in
		0) gens="$gens sine 110-$((rate * 2 / 5))" ;;
		1) gens="$gens sine $((330 + i * 55))" ;;
		2) gens="$gens pinknoise" ;;
		esac
		i=$((i + 1))
	done
	# shellcheck disable=SC2086
	sox -R -n -r "$rate" -c "$ch" "$@" "$out" synth "$dur" $gens gain -9 fade 0.02 "$dur" 0.02
}

# --- WAV -----------------------------------------------------------------
synth 8000 1 0.5 wav_u8_mono_8k.wav -b 8 -e unsigned-integer
synth 44100 2 0.25 wav_s16_stereo_44k.wav -b 16
synth 48000 2 0.15 wav_s24_stereo_48k.wav -b 24
synth 16000 1 0.5 wav_s32_mono_16k.wav -b 32
synth 22050 2 0.25 wav_f32_stereo_22k.wav -b 32 -e floating-point
synth 11025 1 0.25 wav_f64_mono_11k.wav -b 64 -e floating-point
synth 48000 6 0.05 wav_s16_6ch_48k.wav -b 16
# ffmpeg writes WAVE_FORMAT_EXTENSIBLE for more than 16 bits.
synth 44100 2 0.25 "$T/ext.wav" -b 24
$FF -i "$T/ext.wav" -c:a pcm_s24le wav_ext_s24_stereo_44k.wav

# Plain (not extensible) 24-bit PCM; fmt, then fact, LIST and an odd-sized chunk (padded) before data.
synth 11025 1 0.5 "$T/plain.wav" -b 24
python3 - "$T/plain.wav" wav_chunks_s24_mono_11k.wav <<'EOF'
import struct, sys
raw = open(sys.argv[1], 'rb').read()
def chunks(b):
    i = 12
    while i + 8 <= len(b):
        cid, n = b[i:i+4], struct.unpack('<I', b[i+4:i+8])[0]
        yield cid, b[i+8:i+8+n]
        i += 8 + n + (n & 1)
c = dict(chunks(raw))
def chunk(cid, body):
    return cid + struct.pack('<I', len(body)) + body + (b'\0' if len(body) & 1 else b'')
fmt16 = b'\x01\x00' + c[b'fmt '][2:16]  # plain WAVE_FORMAT_PCM, not extensible
info = b'INFO' + chunk(b'INAM', b'Chunk test\0') + chunk(b'IART', b'songflow\0')
body = (b'WAVE' + chunk(b'fact', struct.pack('<I', len(c[b'data']) // 3)) + chunk(b'LIST', info)
        + chunk(b'fmt ', fmt16) + chunk(b'odd ', b'abc') + chunk(b'data', c[b'data']))
open(sys.argv[2], 'wb').write(b'RIFF' + struct.pack('<I', len(body)) + body)
EOF

# --- AIFF ----------------------------------------------------------------
# sox writes plain AIFF (big-endian, 8-bit signed); ffmpeg writes AIFF-C
# for little-endian ('sowt') and float ('fl32', 'fl64') samples, and an
# ID3 chunk when asked.
synth 44100 2 0.25 aiff_s16_stereo_44k.aiff -b 16
synth 48000 1 0.25 aiff_s24_mono_48k.aif -b 24
synth 8000 1 0.5 aiff_s8_mono_8k.aiff -b 8
synth 16000 1 0.25 aiff_s32_mono_16k.aiff -b 32
synth 22050 2 0.25 "$T/sowt.wav" -b 16
$FF -i "$T/sowt.wav" -c:a pcm_s16le -f aiff aifc_sowt_stereo_22k.aifc
synth 11025 1 0.25 "$T/fl.wav" -b 32 -e floating-point
$FF -i "$T/fl.wav" -c:a pcm_f32be -f aiff aifc_fl32_mono_11k.aifc
$FF -i "$T/fl.wav" -c:a pcm_f64be -f aiff aifc_fl64_mono_11k.aifc
synth 22050 1 0.3 "$T/aid3.wav" -b 16
$FF -i "$T/aid3.wav" -c:a pcm_s16be -write_id3v2 1 -metadata title="AIFF With ID3" \
	-metadata artist="Tag Tester" -metadata TBPM=96 -metadata TKEY=Dm -f aiff aiff_id3_s16_mono_22k.aiff

# --- FLAC ----------------------------------------------------------------
synth 44100 2 0.25 "$T/f16.wav" -b 16
flac -s -f -o flac_s16_stereo_44k.flac "$T/f16.wav"
synth 96000 1 0.25 "$T/f24.wav" -b 24
flac -s -f -o flac_s24_mono_96k.flac "$T/f24.wav"
synth 8000 1 0.5 "$T/f8.wav" -b 8
flac -s -f -o flac_s8_mono_8k.flac "$T/f8.wav"
synth 32000 3 0.25 "$T/f3.wav" -b 16
flac -s -f --channel-map=none -o flac_s16_3ch_32k.flac "$T/f3.wav"
# 18 bits per sample, which no frame header code names: every frame says
# "as in STREAMINFO". flac takes the valid bits of a WAVE_FORMAT_EXTENSIBLE
# file; 18 is outside the FLAC subset, hence --lax.
synth 8000 1 0.25 "$T/f18.wav" -b 24
python3 - "$T/f18.wav" "$T/f18x.wav" <<'EOF'
import struct, sys
raw = open(sys.argv[1], 'rb').read()
i, c = 12, {}
while i + 8 <= len(raw):
    cid, n = raw[i:i+4], struct.unpack('<I', raw[i+4:i+8])[0]
    c[cid] = raw[i+8:i+8+n]
    i += 8 + n + (n & 1)
ch, rate = struct.unpack('<HI', c[b'fmt '][2:8])
data = bytearray(c[b'data'])
data[0::3] = bytes(b & 0xc0 for b in data[0::3])  # keep 18 of the 24 bits
guid = bytes.fromhex('0100000000001000800000aa00389b71')  # KSDATAFORMAT_SUBTYPE_PCM
fmt = struct.pack('<HHIIHHHHI', 0xfffe, ch, rate, rate * ch * 3, ch * 3, 24, 22, 18, 0) + guid
body = b'WAVE' + b'fmt ' + struct.pack('<I', len(fmt)) + fmt + b'data' + struct.pack('<I', len(data)) + bytes(data)
open(sys.argv[2], 'wb').write(b'RIFF' + struct.pack('<I', len(body)) + body)
EOF
flac -s -f --lax --no-padding -o flac_s18_mono_8k.flac "$T/f18x.wav"

# An ID3v2.3 tag (title, artist, TBPM, TKEY) put in front of a FLAC stream,
# as some taggers do.
id3() { # out title artist bpm key
	python3 - "$@" <<'EOF'
import struct, sys
out, title, artist, bpm, key = sys.argv[1:]
def frame(fid, text):
    body = b'\0' + text.encode('latin-1')
    return fid.encode() + struct.pack('>I', len(body)) + b'\0\0' + body
frames = frame('TIT2', title) + frame('TPE1', artist) + frame('TBPM', bpm) + frame('TKEY', key)
frames += b'\0' * 64  # padding
n = len(frames)
size = bytes([(n >> 21) & 127, (n >> 14) & 127, (n >> 7) & 127, n & 127])
open(out, 'wb').write(b'ID3\x03\x00\x00' + size + frames)
EOF
}
id3 "$T/tag.id3" "FLAC With ID3" "Tag Tester" 120 "F#m"
synth 22050 2 0.5 "$T/fid3.wav" -b 16
flac -s -f -o "$T/fid3.flac" "$T/fid3.wav"
cat "$T/tag.id3" "$T/fid3.flac" >flac_id3_s16_stereo_22k.flac

# --- MP3 -----------------------------------------------------------------
synth 44100 2 0.6 "$T/m1.wav" -b 16
lame --quiet -b 128 "$T/m1.wav" mp3_cbr_stereo_44k.mp3
synth 48000 2 0.6 "$T/m2.wav" -b 16
lame --quiet -V 2 "$T/m2.wav" mp3_vbr_stereo_48k.mp3
synth 22050 1 1 "$T/m3.wav" -b 16
lame --quiet -m m -b 48 "$T/m3.wav" mp3_mono_22k.mp3
synth 44100 1 1 "$T/m4.wav" -b 16
lame --quiet -m m -b 64 --add-id3v2 --tt "Tagged Song" --ta "Tag Artist" \
	--tv TBPM=128 --tv TKEY=Am "$T/m4.wav" mp3_tagged_mono_44k.mp3
# MPEG-2 at 22.05 kHz, CBR 32 kbit/s: every other frame padded, which
# go-mp3 reads a byte short (decode/mp3.go, lsfRepacker). Its frames are
# too small for a LAME header.
synth 22050 1 0.5 "$T/m5.wav" -b 16
lame --quiet -m m -b 32 "$T/m5.wav" mp3_cbr32_mono_22k.mp3
# MPEG-2 VBR at 24 kHz: bursts of noise between silences, so that tiny
# frames come right before large ones whose main data reaches back past
# them (the decode in segments must run in far enough; decode/mp3.go).
sox -R -n -r 24000 -c 1 -b 16 "$T/m6.wav" synth 0.15 pinknoise gain -6 pad 0 0.15 repeat 9
lame --quiet -m m -V 9 "$T/m6.wav" mp3_vbr_bursts_24k.noref.mp3

# --- AAC -----------------------------------------------------------------
# Perceptual noise substitution is off: decoders fill those bands with
# their own random noise, which no two decoders share.
synth 44100 2 0.6 "$T/a1.wav" -b 16
$FF -i "$T/a1.wav" -c:a aac -aac_pns 0 -b:a 128k aac_stereo_44k.m4a
synth 32000 1 1 "$T/a2.wav" -b 16
$FF -i "$T/a2.wav" -c:a aac -aac_pns 0 -b:a 48k -f adts aac_adts_mono_32k.aac
# QuickTime movie (ffmpeg's mov muxer): a version 1 sound description that
# keeps the esds inside a 'wave' box.
synth 32000 1 0.25 "$T/a4.wav" -b 16
$FF -i "$T/a4.wav" -c:a aac -aac_pns 0 -b:a 48k -f mov aac_qt_mono_32k.mov
# At 24 kHz and below faad2 doubles the rate (in case of implicit SBR), so
# this one has no reference: the test checks its rate and length.
synth 22050 1 0.3 "$T/a3.wav" -b 16
$FF -i "$T/a3.wav" -c:a aac -aac_pns 0 -b:a 32k -f adts aac_adts_lc_22k.noref.aac
# Surround: faad2 puts the centre first and the LFE last; the reference
# has ffmpeg's (and WAV's) order, L R C LFE then the surround pairs.
synth 48000 6 0.1 "$T/a51.wav" -b 16
$FF -i "$T/a51.wav" -c:a aac -aac_pns 0 -b:a 192k aac_51_48k.m4a
synth 48000 8 0.1 "$T/a71.wav" -b 16
$FF -i "$T/a71.wav" -af aformat=channel_layouts=7.1 -c:a aac -aac_pns 0 -b:a 256k aac_71_48k.m4a

# --- ALAC ----------------------------------------------------------------
# Stereo 16-bit: a tone, then digital silence (runs of zeros), then white
# noise at full scale (escaped residuals); 26460 samples end in a partial
# frame. 24-bit makes the encoder shift out a byte; compression level 0
# stores every frame verbatim.
synth 44100 2 0.3 "$T/l1.wav" -b 16
sox -R -n -r 44100 -c 2 -b 16 "$T/l2.wav" synth 0.1 whitenoise gain -0.5
sox -R "$T/l1.wav" "$T/l2.wav" "$T/l3.wav" pad 0.2@0.3
$FF -i "$T/l3.wav" -c:a alac alac_s16_stereo_44k.m4a
synth 48000 2 0.2 "$T/l4.wav" -b 24
$FF -i "$T/l4.wav" -c:a alac alac_s24_stereo_48k.m4a
synth 22050 1 0.3 "$T/l5.wav" -b 16
$FF -i "$T/l5.wav" -c:a alac alac_s16_mono_22k.m4a
$FF -i "$T/l1.wav" -t 0.15 -c:a alac -compression_level 0 alac_verbatim_s16_stereo_44k.m4a
$FF -i "$T/l5.wav" -c:a alac -f mov alac_qt_s16_mono_22k.mov
# Surround: ALAC codes the centre first; the references are in WAVE order.
$FF -i "$T/a51.wav" -t 0.05 -c:a alac alac_51_48k.m4a
$FF -i "$T/a71.wav" -t 0.05 -af 'aformat=channel_layouts=7.1(wide)' -c:a alac alac_71wide_48k.m4a
synth 48000 3 0.05 "$T/l6.wav" -b 16
$FF -i "$T/l6.wav" -af aformat=channel_layouts=3.0 -c:a alac alac_30_48k.m4a

# --- CAF -----------------------------------------------------------------
# ffmpeg's CAF muxer writes its metadata as the info chunk's strings.
synth 44100 2 0.25 "$T/c1.wav" -b 16
$FF -i "$T/c1.wav" -c:a pcm_s16be -metadata title="CAF With Info" -metadata artist="Tag Tester" \
	-metadata tempo=132 -metadata "key signature=Eb" caf_s16_stereo_44k.caf
synth 48000 1 0.2 "$T/c2.wav" -b 24
$FF -i "$T/c2.wav" -c:a pcm_s24le caf_s24le_mono_48k.caf
synth 22050 1 0.2 "$T/c3.wav" -b 32 -e floating-point
$FF -i "$T/c3.wav" -c:a pcm_f32be caf_f32_mono_22k.caf
synth 8000 1 0.5 "$T/c4.wav" -b 16
$FF -i "$T/c4.wav" -c:a pcm_s8 caf_s8_mono_8k.caf
$FF -i "$T/l3.wav" -c:a alac alac_s16_stereo_44k.caf
# ffmpeg writes no AAC in CAF: rewrap the M4A's AAC frames (desc, the ES
# descriptor as cookie, a packet table with the edit list's priming, data).
python3 - aac_stereo_44k.m4a aac_stereo_44k.caf <<'EOF'
import struct, sys
raw = open(sys.argv[1], 'rb').read()
def boxes(b):
    i = 0
    while i + 8 <= len(b):
        n, t = struct.unpack('>I4s', b[i:i+8])
        yield t.decode('latin-1'), b[i+8:i+n]
        i += n
def child(b, *path):
    for name in path:
        b = dict(boxes(b))[name]
    return b
moov = child(raw, 'moov')
trak = child(moov, 'trak')
stbl = child(trak, 'mdia', 'minf', 'stbl')
mdhd = child(trak, 'mdia', 'mdhd')
scale = struct.unpack('>I', mdhd[12:16])[0]
stsd = child(stbl, 'stsd')
entry = stsd[8:]
n, typ = struct.unpack('>I4s', entry[:8])
assert typ == b'mp4a'
aentry = entry[8:n]
channels, = struct.unpack('>H', aentry[16:18])
esds = dict(boxes(aentry[28:]))['esds'][4:]
sizes = [struct.unpack('>I', child(stbl, 'stsz')[12+4*i:16+4*i])[0] for i in range(struct.unpack('>I', child(stbl, 'stsz')[8:12])[0])]
stco = child(stbl, 'stco'); offs = [struct.unpack('>I', stco[8+4*i:12+4*i])[0] for i in range(struct.unpack('>I', stco[4:8])[0])]
stsc = child(stbl, 'stsc'); runs = [struct.unpack('>III', stsc[8+12*i:20+12*i]) for i in range(struct.unpack('>I', stsc[4:8])[0])]
elst = child(trak, 'edts', 'elst')
edur, etime = struct.unpack('>Ii', elst[8:16])
mvhd = child(moov, 'mvhd'); mscale = struct.unpack('>I', mvhd[12:16])[0]
valid = edur * scale // mscale
packets, si = [], 0
for c, off in enumerate(offs):
    per = [r for r in runs if r[0] <= c + 1][-1][1]
    for _ in range(per):
        if si >= len(sizes): break
        packets.append(raw[off:off+sizes[si]]); off += sizes[si]; si += 1
def varint(v):
    out = [v & 0x7f]
    v >>= 7
    while v:
        out.append(0x80 | (v & 0x7f)); v >>= 7
    return bytes(reversed(out))
def chunk(t, body):
    return t + struct.pack('>q', len(body)) + body
desc = struct.pack('>d4sIIIII', float(scale), b'aac ', 2, 0, 1024, channels, 0)
pakt = struct.pack('>qqii', len(packets), valid, etime, len(packets)*1024 - valid - etime) + b''.join(varint(len(p)) for p in packets)
data = struct.pack('>I', 0) + b''.join(packets)
open(sys.argv[2], 'wb').write(b'caff' + struct.pack('>HH', 1, 0) + chunk(b'desc', desc) + chunk(b'kuki', esds) + chunk(b'pakt', pakt) + chunk(b'data', data))
EOF

# --- references ----------------------------------------------------------
for f in wav_*.wav aiff_*.aif* aifc_*.aifc flac_*.flac alac_*.m4a alac_*.mov alac_*.caf caf_*.caf; do
	$FF -i "$f" -f f32le -c:a pcm_f32le "$f.ref"
done
for f in mp3_*.mp3 aac_*.m4a aac_*.mov aac_*_32k.aac aac_*.caf; do
	$FF -i "$f" -f s16le -c:a pcm_s16le "$f.ref"
done

# --- bad input (no references) ---------------------------------------------
: >bad_empty.wav
printf '<html><body>not audio</body></html>\n' >bad_html.mp3
head -c 3000 /dev/urandom | sed 's/^/x/' | head -c 3000 >bad_garbage.bin
cp wav_u8_mono_8k.wav bad_is_wav.mp3 # a WAV named .mp3: decodes as WAV
head -c 6000 mp3_cbr_stereo_44k.mp3 >bad_truncated.mp3
head -c 12000 flac_s16_stereo_44k.flac >bad_truncated.flac
head -c 30000 aiff_s16_stereo_44k.aiff >bad_truncated.aiff
$FF -i "$T/aid3.wav" -t 0.2 -c:a pcm_mulaw -f aiff bad_ulaw.aifc
$FF -i "$T/a2.wav" -t 0.3 -c:a libvorbis bad_vorbis.ogg
$FF -i "$T/c4.wav" -c:a pcm_mulaw bad_ulaw.caf
# 32 bits per sample: valid since FLAC 1.4, beyond mewkiz/flac (unsupported).
synth 8000 1 0.1 "$T/f32.wav" -b 32
flac -s -f --no-padding -o bad_s32_mono_8k.flac "$T/f32.wav"
# Fragmented MP4 whose movie box holds only the first fragment's samples.
$FF -i "$T/a2.wav" -t 0.3 -c:a aac -b:a 32k -movflags frag_keyframe -frag_duration 100000 bad_fragmented.m4a
# A WAV whose data chunk claims almost 4 GB.
python3 - <<'EOF'
import struct
fmt = struct.pack('<HHIIHH', 1, 2, 44100, 44100 * 4, 4, 16)
body = b'WAVE' + b'fmt ' + struct.pack('<I', 16) + fmt + b'data' + struct.pack('<I', 0xfffffff0) + b'\1\2' * 64
open('bad_4gb.wav', 'wb').write(b'RIFF' + struct.pack('<I', 0xfffffff8) + body)
EOF

du -cb ./* | tail -1
