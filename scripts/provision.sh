#!/usr/bin/env bash
# Makes libtorch 2.13.0 available to tch 0.26, installing it once into a cache outside the clone.
#
# Sourced by scripts/tch-parity and scripts/test, which then build with cargo. Run directly,
# it prints the environment for using plain cargo afterwards:
#     eval "$(scripts/provision.sh)"
#
# Order of preference:
#   1. LIBTORCH or LIBTORCH_USE_PYTORCH already set: the user's libtorch is used, nothing is
#      installed (torch-sys reads those variables itself).
#   2. The cached environment, if it is complete: no network work.
#   3. Otherwise `pip install` scripts/requirements.txt into a new virtual environment, built
#      under a temporary name and renamed into place only after torch imports and reports the
#      expected version, so a half-finished install is never mistaken for a good one.
#
# Settings:
#   TCH_PARITY_CACHE   cache folder (default ${XDG_CACHE_HOME:-~/.cache}/tch-parity)
#   TCH_PARITY_PYTHON  interpreter used to create the environment (default python3)

TCH_PARITY_TORCH_VERSION=2.13.0

tch_parity_die() {
    printf 'tch-parity set-up: %s\n' "$@" >&2
    return 1
}

tch_parity_say() {
    printf 'tch-parity set-up: %s\n' "$*" >&2
}

# The environment's folder name carries a digest of the requirements, so changing them
# provisions a fresh environment instead of trusting a stale one.
tch_parity_env_dir() {
    local root req digest
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    req="$root/requirements.txt"
    digest=$(grep -v '^\s*#' "$req" | sha256sum | cut -c1-12)
    printf '%s/torch-%s-%s' "$TCH_PARITY_CACHE" "$TCH_PARITY_TORCH_VERSION" "$digest"
}

tch_parity_torch_dir() {
    local env=$1 dir
    for dir in "$env"/lib/python3*/site-packages/torch; do
        [ -f "$dir/lib/libtorch_cpu.so" ] && { printf '%s' "$dir"; return 0; }
    done
    return 1
}

tch_parity_install() {
    local env=$1 python=${TCH_PARITY_PYTHON:-python3}
    local req partial log
    req="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/requirements.txt"

    command -v "$python" >/dev/null 2>&1 || tch_parity_die \
        "'$python' was not found. Install Python 3.9 or newer (Debian: apt-get install python3 python3-venv)," \
        "or point tch at an existing libtorch $TCH_PARITY_TORCH_VERSION with LIBTORCH=/path/to/libtorch." || return 1

    partial="$env.partial-$$"
    log="$TCH_PARITY_CACHE/install.log"
    rm -rf "$partial"
    if ! "$python" -m venv "$partial" >"$log" 2>&1; then
        rm -rf "$partial"
        tch_parity_die "'$python -m venv' failed (log: $log)." \
            "Debian and Ubuntu ship venv and pip separately: apt-get install python3-venv python3-pip." || return 1
    fi
    if ! "$partial/bin/python" -m pip --version >>"$log" 2>&1; then
        rm -rf "$partial"
        tch_parity_die "the new virtual environment has no pip (log: $log)." \
            "Install it: apt-get install python3-pip python3-venv (Debian/Ubuntu)." || return 1
    fi

    tch_parity_say "installing torch $TCH_PARITY_TORCH_VERSION from the Python package index into $env"
    tch_parity_say "(one time only: about 5 GB and a minute or two; log: $log)"
    if ! "$partial/bin/python" -m pip install --no-cache-dir --disable-pip-version-check \
        --progress-bar off -r "$req" >>"$log" 2>&1; then
        tail -n 15 "$log" >&2
        rm -rf "$partial"
        tch_parity_die "pip could not install the requirements in $req (full log: $log)." \
            "Check network access to the Python package index and free disk space (about 6 GB), then run again," \
            "or point tch at an existing libtorch $TCH_PARITY_TORCH_VERSION with LIBTORCH=/path/to/libtorch." || return 1
    fi

    local version
    version=$("$partial/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>>"$log")
    if [ "$version" != "$TCH_PARITY_TORCH_VERSION" ] || ! tch_parity_torch_dir "$partial" >/dev/null; then
        rm -rf "$partial"
        tch_parity_die "the installed torch reports version '${version:-none}', expected $TCH_PARITY_TORCH_VERSION (log: $log)." || return 1
    fi
    # Entry-point scripts carry the temporary path in their shebangs; everything here is run
    # as "$env/bin/python -m ...", which stays valid across the rename.
    mv "$partial" "$env"
}

tch_parity_provision() {
    if [ -n "${LIBTORCH:-}" ]; then
        [ -f "$LIBTORCH/lib/libtorch_cpu.so" ] || tch_parity_die \
            "LIBTORCH=$LIBTORCH has no lib/libtorch_cpu.so. Point it at a libtorch $TCH_PARITY_TORCH_VERSION folder," \
            "or unset it to let this script install one." || return 1
        return 0
    fi
    if [ -n "${LIBTORCH_USE_PYTORCH:-}" ]; then
        return 0
    fi

    TCH_PARITY_CACHE=${TCH_PARITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tch-parity}
    export TCH_PARITY_CACHE
    mkdir -p "$TCH_PARITY_CACHE" || tch_parity_die "cannot create the cache folder $TCH_PARITY_CACHE (set TCH_PARITY_CACHE)." || return 1

    local env torch
    env=$(tch_parity_env_dir)
    if [ ! -d "$env" ]; then
        # One installer at a time; whoever waited finds the finished environment.
        exec 9>"$TCH_PARITY_CACHE/.lock"
        flock 9
        if [ ! -d "$env" ]; then
            rm -rf "$env".partial-*
            tch_parity_install "$env" || { exec 9>&-; return 1; }
        fi
        exec 9>&-
    fi
    torch=$(tch_parity_torch_dir "$env") || tch_parity_die \
        "$env exists but holds no torch/lib/libtorch_cpu.so; delete that folder and run again." || return 1

    # .cargo/config.toml points LIBTORCH here; keeping the path string stable across runs keeps
    # torch-sys (rerun-if-env-changed=LIBTORCH) from rebuilding.
    local link
    link="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.libtorch"
    if [ "$(readlink "$link" 2>/dev/null)" != "$torch" ]; then
        ln -sfn "$torch" "$link" || tch_parity_die "cannot create the link $link." || return 1
    fi
    export LIBTORCH="$link"
    # Scripts that record reference values from PyTorch itself run this interpreter.
    export TCH_PARITY_PYTHON_ENV="$env/bin/python"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    tch_parity_provision || exit 1
    [ -n "${LIBTORCH:-}" ] && printf 'export LIBTORCH=%q\n' "$LIBTORCH"
    [ -n "${TCH_PARITY_PYTHON_ENV:-}" ] && printf 'export TCH_PARITY_PYTHON_ENV=%q\n' "$TCH_PARITY_PYTHON_ENV"
    exit 0
fi
