"""The CocoonVM stand-in of the local runtime: what replaces the TDX host, QEMU and the worker VM.

- `release.py` builds a stand-in of the official worker release (the layout `cocoon-launch` expects:
  `scripts/`, `spec/spec-worker/`, `images/{prod,test}/`, `bin/`) and packs it as `.tar.xz` with
  its SHA-256, for the launcher pod's `fetch-release` init container to download and verify;
- `launch.py` is the stand-in's own `scripts/cocoon-launch` (used when the official one is not at
  hand; the release builder takes the official file when given its path);
- `qemu.py` is a stand-in `qemu-system-x86_64`: it records its command line, refuses one without the
  TDX guest object, the VFIO GPU or the runner's port forward, and "boots" the guest: Triton (CPU) with
  an OpenAI front plus the runner simulator behind the forwarded port, configured from the spec volume
  the launcher prepared (runtime.vars, the TON config);
- `host.py` gives each fake TDX host a directory tree (`/dev/kvm`, `/sys/module/kvm_intel/...`, QGS and
  seal-server processes in `/proc`) that the launcher pod's hostPath volumes map to; a node annotation
  takes prerequisites away for tests;
- `pod.py` is what the local kubelet does for the pod's `launcher` container.
"""
