#!/bin/bash
# fetch-kernel.sh: get a Debian kernel that can boot a pure cgroup v2 test VM.
#
# Downloads the package linux-image-amd64 depends on (linux-image-<ver>-amd64),
# unpacks it once into the cache and prepares:
#   $CACHE/current/vmlinuz        the kernel
#   $CACHE/current/modules/*.ko   the modules the VM loads (uncompressed, since
#                                 busybox insmod cannot read .ko.xz)
#   $CACHE/current/modules/order  load order, dependencies first
# and prints `KERNEL=...` and `MODULES=...` lines. Run again: nothing is
# downloaded unless the package version changed. Installs qemu-system-x86 when
# qemu-system-x86_64 is missing.
#
# Environment: ROOTLET_VM_CACHE (default /var/cache/rootlet-vm),
# VM_MODULES (default "overlay"; their modules.dep dependencies come along).
set -euo pipefail

CACHE=${ROOTLET_VM_CACHE:-/var/cache/rootlet-vm}
MODULES_WANTED=${VM_MODULES:-overlay}

log() { echo "fetch-kernel: $*" >&2; }

need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
command -v dpkg-deb >/dev/null || { log "dpkg-deb missing: this script needs a Debian host"; exit 1; }
if ((${#need_pkgs[@]})); then
	log "installing ${need_pkgs[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_pkgs[@]}" >&2
fi

# The metapackage only depends on the real, versioned image package.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
if [[ -z $pkg ]]; then
	log "cannot resolve the dependency of linux-image-amd64 (run apt-get update?)"
	exit 1
fi
kver=${pkg#linux-image-}
dir=$CACHE/$pkg

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 # two concurrent runs must not unpack into the same directory

if [[ ! -f $dir/.unpacked ]]; then
	log "downloading $pkg"
	tmp=$(mktemp -d "$CACHE/.tmp.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# apt-get download writes into the cwd; the _apt sandbox user may not
	# write there, which only costs a warning.
	(cd "$tmp" && apt-get download "$pkg" >&2)
	dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/root"
	rm -rf "$dir"
	mkdir -p "$dir"
	mv "$tmp/root" "$dir/root"
	touch "$dir/.unpacked"
	rm -rf "$tmp"
	trap - EXIT
fi

moddir=$dir/root/lib/modules/$kver
[[ -d $moddir ]] || moddir=$dir/root/usr/lib/modules/$kver
vmlinuz=$dir/root/boot/vmlinuz-$kver
[[ -f $vmlinuz && -d $moddir/kernel ]] || { log "unexpected package layout in $dir"; exit 1; }

# Decompress the wanted modules and their dependencies. The package carries no
# modules.dep (depmod runs at install time) and the host may lack kmod, so the
# dependencies come from each module's own .modinfo "depends=" string.
out=$dir/modules-$(echo "$MODULES_WANTED" | tr ' ' '_')
if [[ ! -f $out/order ]]; then
	rm -rf "$out"
	mkdir -p "$out"
	declare -A file_of=() seen=()
	while IFS= read -r f; do
		name=$(basename "$f")
		name=${name%%.ko*}
		file_of[${name//-/_}]=$f
	done < <(find "$moddir/kernel" -name '*.ko*')
	order=()
	add_module() { # $1: module name
		local name=${1//-/_} f base deps d
		[[ -n ${seen[$name]:-} ]] && return
		seen[$name]=1
		f=${file_of[$name]:-}
		if [[ -z $f ]]; then
			if grep -qE "/$1\.ko$" "$moddir/modules.builtin" 2>/dev/null; then
				log "$1 is built into $kver"
				return
			fi
			log "module $1 not found in $kver"
			exit 1
		fi
		base=$(basename "$f")
		case $f in
		*.xz) xz -dc "$f" >"$out/${base%.xz}"; base=${base%.xz} ;;
		*.zst) zstd -qdc "$f" >"$out/${base%.zst}"; base=${base%.zst} ;;
		*.gz) gzip -dc "$f" >"$out/${base%.gz}"; base=${base%.gz} ;;
		*) cp "$f" "$out/$base" ;;
		esac
		deps=$(tr '\0' '\n' <"$out/$base" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' ')
		for d in $deps; do add_module "$d"; done
		order+=("$base") # after its dependencies
	}
	for m in $MODULES_WANTED; do add_module "$m"; done
	printf '%s\n' "${order[@]}" >"$out/order.tmp"
	mv "$out/order.tmp" "$out/order"
fi

ln -sfn "$pkg" "$CACHE/current.tmp"
mv -T "$CACHE/current.tmp" "$CACHE/current"
ln -sfn "$vmlinuz" "$dir/vmlinuz"
ln -sfn "$out" "$dir/modules"

echo "KERNEL=$vmlinuz"
echo "MODULES=$out"
