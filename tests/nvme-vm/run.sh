#!/usr/bin/env bash
# The NVMe lane: boots a Debian kernel under QEMU (TCG) with an emulated NVMe
# controller, loads nvme with poll_queues=1, and runs bio's NVMe test binary
# inside against /dev/ng0n1 twice: on an IOPOLL ring and on an interrupt ring.
# Fails if either run fails or the guest does not report back.
#
# Installs what it needs (qemu-system-x86, busybox-static, cpio, xz-utils) and
# downloads the kernel package with apt (nothing is installed from it on the
# host). Everything it makes lives under $WORKDIR.
#
#   bash tests/nvme-vm/run.sh            # from the repository root
# Knobs: WORKDIR (/tmp/rdaos-nvme-vm), KERNEL_META (linux-image-6.12-amd64),
#        NVME_LBA (512 | 4096), TIMEOUT_S (600), GUEST_TEST (bio test target: nvme),
#        GUEST_BENCH=1 (also run bio_bench on the namespace, IOPOLL and interrupts;
#        an emulated device under TCG: figures to report, not to judge)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORKDIR=${WORKDIR:-/tmp/rdaos-nvme-vm}
KERNEL_META=${KERNEL_META:-linux-image-6.12-amd64}
NVME_LBA=${NVME_LBA:-512}
TIMEOUT_S=${TIMEOUT_S:-600}
GUEST_TEST=${GUEST_TEST:-nvme}
GUEST_BENCH=${GUEST_BENCH:-0}
say() { printf '[nvme-vm %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

mkdir -p "$WORKDIR"

# 1. Host tools.
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
command -v xz >/dev/null || missing+=(xz-utils)
command -v strings >/dev/null || missing+=(binutils)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. The guest kernel, unpacked under $WORKDIR/kroot (cached).
if [ ! -d "$WORKDIR/kroot/lib/modules" ]; then
  apt-cache show "$KERNEL_META" >/dev/null 2>&1 || apt-get update -qq
  pkg=$(apt-cache depends "$KERNEL_META" | awk '/Depends: linux-image-/ {print $2; exit}')
  [ -n "$pkg" ] || { say "cannot resolve $KERNEL_META to a kernel package"; exit 2; }
  say "downloading $pkg"
  (cd "$WORKDIR" && rm -f linux-image-*.deb && apt-get download "$pkg" >/dev/null)
  rm -rf "$WORKDIR/kroot"
  dpkg-deb -x "$WORKDIR"/linux-image-*.deb "$WORKDIR/kroot"
fi
kver=$(ls "$WORKDIR/kroot/lib/modules" | head -1)
moddir=$WORKDIR/kroot/lib/modules/$kver/kernel
say "guest kernel $kver"

# 3. A static build of bio's NVMe test binary (glibc, +crt-static: needs no
#    extra toolchain target).
say "building the bio '$GUEST_TEST' test binary (static)"
bin=$(cd "$ROOT" && RUSTFLAGS="-C target-feature=+crt-static" \
  cargo test -p bio --release --test "$GUEST_TEST" --no-run --target x86_64-unknown-linux-gnu \
  --message-format=json 2>/dev/null | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -n "$bin" ] && [ -x "$bin" ] || { say "build failed"; exit 2; }
ldd "$bin" 2>&1 | grep -q "not a dynamic\|statically linked" || { say "$bin is not static"; exit 2; }
bench=""
if [ "$GUEST_BENCH" = 1 ]; then
  (cd "$ROOT" && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build -q -p bio --release --example bio_bench --target x86_64-unknown-linux-gnu)
  bench=$ROOT/target/x86_64-unknown-linux-gnu/release/examples/bio_bench
fi

# 4. nvme.ko and what it depends on, decompressed, in load order.
declare -A seen=()
order=()
find_mod() {
  local n=$1
  find "$moddir" \( -name "$n.ko*" -o -name "${n//-/_}.ko*" -o -name "${n//_/-}.ko*" \) -print -quit
}
unpack() { case "$1" in *.xz) xz -dc "$1" ;; *.zst) zstd -dcq "$1" ;; *) cat "$1" ;; esac; }
add_mod() {
  local n=$1 f d
  [ -n "${seen[$n]:-}" ] && return 0
  seen[$n]=1
  f=$(find_mod "$n")
  [ -n "$f" ] || return 0 # built into the kernel
  for d in $(unpack "$f" | strings | sed -n 's/^depends=//p' | tr ',' ' '); do add_mod "$d"; done
  order+=("$f")
}
for m in crct10dif_generic crc64_rocksoft_generic; do [ -n "$(find_mod $m)" ] && add_mod $m; done
add_mod nvme

# 5. initramfs: busybox, the modules, the test binary, an init that runs it
#    with IOPOLL and with interrupts and reports each exit code.
ird=$WORKDIR/initramfs
rm -rf "$ird"
mkdir -p "$ird"/{bin,proc,sys,dev,tmp,lib/modules}
cp /bin/busybox "$ird/bin/busybox"
cp "$bin" "$ird/bin/bio-nvme-test"
[ -z "$bench" ] || cp "$bench" "$ird/bin/bio_bench"
mods=""
for f in "${order[@]}"; do
  b=$(basename "$f"); b=${b%.xz}; b=${b%.zst}
  unpack "$f" >"$ird/lib/modules/$b"
  mods="$mods ${b%.ko}"
done
cat >"$ird/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $mods; do
  if [ "\$m" = nvme ]; then insmod /lib/modules/\$m.ko poll_queues=1; else insmod /lib/modules/\$m.ko; fi
done
i=0; while [ ! -e /dev/ng0n1 ] && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i+1)); done
echo "GUEST: \$(uname -r), io_poll=\$(cat /sys/block/nvme0n1/queue/io_poll), lba=\$(cat /sys/block/nvme0n1/queue/logical_block_size)"
export RDAOS_NVME_DEV=/dev/ng0n1 RUST_BACKTRACE=1
for mode in 1 0; do
  RDAOS_NVME_IOPOLL=\$mode /bin/bio-nvme-test --test-threads=1 --nocapture
  echo "GUEST_RC iopoll=\$mode rc=\$?"
done
if [ -x /bin/bio_bench ]; then
  for mode in 1 0; do
    /bin/bio_bench --dev /dev/ng0n1 --iopoll \$mode --no-fio --secs 2 --rounds 1 --size-mib 200 2>&1 | sed "s/^/BENCH iopoll=\$mode /"
  done
fi
echo GUEST_DONE
poweroff -f
INIT
chmod +x "$ird/init"
(cd "$ird" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$WORKDIR/initrd.gz")

# 6. Boot.
img=$WORKDIR/nvme.img
rm -f "$img"
truncate -s 256M "$img"
log=$WORKDIR/guest.log
say "booting (TCG), log in $log"
set +e
timeout "$TIMEOUT_S" qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nographic -no-reboot \
  -kernel "$WORKDIR/kroot/boot/vmlinuz-$kver" -initrd "$WORKDIR/initrd.gz" \
  -append "console=ttyS0 panic=-1 rdinit=/init loglevel=3" \
  -drive "file=$img,if=none,id=nvm,format=raw,cache=unsafe" \
  -device "nvme,serial=rdaos0001,drive=nvm,logical_block_size=$NVME_LBA,physical_block_size=$NVME_LBA" \
  >"$log" 2>&1
qrc=$?
set -e
tr -d '\r' <"$log" | grep -E "GUEST|test result|passed|FAILED|panicked|^test |skipped|B blocks|BENCH" || true
if ! grep -q GUEST_DONE "$log"; then
  say "the guest did not finish (qemu exit $qrc); see $log"
  exit 3
fi
fails=$(tr -d '\r' <"$log" | grep -c "GUEST_RC .* rc=[1-9]" || true)
runs=$(tr -d '\r' <"$log" | grep -c "GUEST_RC" || true)
if [ "$runs" -ne 2 ] || [ "$fails" -ne 0 ]; then
  say "NVMe lane FAILED ($fails of $runs runs failed)"
  exit 1
fi
say "NVMe lane passed: IOPOLL and interrupt runs"
