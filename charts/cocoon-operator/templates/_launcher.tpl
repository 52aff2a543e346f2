{{- /*
The release download and check the launcher pods run (fetch-release), reused by the seal-server
DaemonSet. Kept byte-identical to cocoon_operator.reconcile.launcher.FETCH_RELEASE_SCRIPT
(tests/chart/test_chart_launcher.py compares them).
*/}}
{{- define "cocoon-operator.fetchReleaseScript" -}}
set -eu; umask 022; dir="/var/cache/cocoon/releases/$RELEASE_SHA256"; mkdir -p "$dir"; exec 9>"$dir/.lock"; flock 9; if [ ! -f "$dir/release.archive" ]; then echo "downloading the worker release $RELEASE_URL"; curl -fsSL --retry 3 --connect-timeout 20 "$RELEASE_URL" -o "$dir/release.archive.part"; mv "$dir/release.archive.part" "$dir/release.archive"; fi; actual="$(sha256sum "$dir/release.archive" | cut -d' ' -f1)"; if [ "$actual" != "$RELEASE_SHA256" ]; then rm -f "$dir/release.archive"; rm -rf "$dir/release" "$dir/unpacked"; echo "release integrity check failed: SHA-256 of the archive at $RELEASE_URL is $actual, the CocoonNode expects $RELEASE_SHA256" >&2; exit 3; fi; if [ ! -f "$dir/unpacked" ]; then rm -rf "$dir/release.tmp" "$dir/release"; mkdir "$dir/release.tmp"; tar --no-same-owner -xf "$dir/release.archive" -C "$dir/release.tmp"; root="$dir/release.tmp"; for d in "$dir"/release.tmp/*; do [ -f "$d/scripts/cocoon-launch" ] && root="$d"; done; if [ ! -f "$root/scripts/cocoon-launch" ]; then echo "the release at $RELEASE_URL has no scripts/cocoon-launch" >&2; exit 3; fi; mv "$root" "$dir/release"; rm -rf "$dir/release.tmp"; touch "$dir/unpacked"; fi; echo "worker release $RELEASE_SHA256 verified"
{{- end }}
