# Shared by scripts/test and scripts/demo (sourced, not run).

step() { printf '\n==> %s\n' "$*"; }

# System packages cargo cannot install: libxdp-sys builds C with
# clang/llvm/libelf; the labs use iproute2, ethtool, ping and iperf3;
# valgrind checks the C ABI tests; tmux drives the `vswitchctl top` test;
# tshark reads back what `vswitchctl capture` writes (tests/tests/capture.rs);
# curl fetches `/metrics` in the mirror/metrics test.
PACKAGES=(clang llvm m4 libelf-dev libpcap-dev zlib1g-dev pkg-config make gcc
          iproute2 ethtool iputils-ping iperf3 valgrind tmux tshark curl)

# Installs whichever of PACKAGES are missing: one `apt-get update`, then a
# noninteractive install (CI has no stdin; a debconf question would hang).
install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "all system packages present"
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]} (run as root to install them)" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

require_cargo() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo not found: install a Rust toolchain (https://rustup.rs) first" >&2
        exit 1
    fi
}
