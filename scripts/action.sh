#!/usr/bin/env bash
# The steps of the dagship GitHub Action (action.yml), one subcommand each:
#
#   resolve  which release (tag) and which binary (target) this runner needs, and where it lives
#   install  that binary from the GitHub release, checked against its SHA256SUMS, unless the cache
#            restored it; `cargo install` when the release has no binary for this runner
#   run      dagship with the action's `args`, in its `working-directory`
#
# Inputs come as environment variables (never through `${{ }}` in a script). Besides the
# runner's own (RUNNER_*, GITHUB_*), two variables redirect what would reach the internet:
#   DAGSHIP_RELEASES_URL  base URL of the release files instead of
#                         $GITHUB_SERVER_URL/<repo>/releases/download (a mirror: no token sent)
#   DAGSHIP_CARGO         the program the fallback runs as `<it> install ...` (default: cargo)
# Written for bash 3.2 as well (macOS).
set -euo pipefail

die() {
    # A workflow command so that the message also shows as an annotation of the job; its data
    # escapes `%`, CR and LF.
    local message=$*
    message=${message//%/%25}
    message=${message//$'\r'/%0D}
    message=${message//$'\n'/%0A}
    printf '::error title=dagship action::%s\n' "$message" >&2
    exit 1
}

need() {
    [ -n "${!1:-}" ] || die "$1 is not set: this script runs inside the dagship action's steps"
}

# vX.Y.Z, with an optional pre-release (v1.2.0-rc.1): what the release workflow tags.
is_version_tag() {
    [[ $1 =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]]
}

# The token goes only to GitHub itself (its server and its API), never to a mirror.
sends_token() {
    local url=$1
    [ -n "${DAGSHIP_TOKEN:-}" ] || return 1
    case $url in
    "${GITHUB_SERVER_URL:-https://github.com}"/* | "${GITHUB_API_URL:-https://api.github.com}"/*) return 0 ;;
    *) return 1 ;;
    esac
}

# fetch URL FILE [HEADER...]: downloads URL into FILE and prints the HTTP status. Exits on a
# network failure; an HTTP error is the caller's to judge. The token travels in curl's config on
# stdin, so that it never shows in the process list. Called as `status=$(fetch ...) || exit 1`:
# `die` in a command substitution ends only that subshell.
fetch() {
    local url=$1 out=$2 config=""
    shift 2
    if sends_token "$url"; then
        local token=${DAGSHIP_TOKEN//\\/\\\\}
        token=${token//\"/\\\"}
        config="header = \"Authorization: Bearer ${token}\""
    fi
    local header
    for header in "$@"; do
        config="${config}"$'\n'"header = \"${header}\""
    done
    curl --silent --show-error --location --retry 3 --connect-timeout 30 --max-time 600 \
        --config - --output "$out" --write-out '%{http_code}' "$url" <<<"$config" ||
        die "could not download $url (curl failed, see above)"
}

# The Rust target of the release binary for this runner, or nothing when there is none.
target_of_runner() {
    case "$RUNNER_OS/$RUNNER_ARCH" in
    Linux/X64) echo x86_64-unknown-linux-musl ;;
    Linux/ARM64) echo aarch64-unknown-linux-musl ;;
    macOS/ARM64) echo aarch64-apple-darwin ;;
    *) echo "" ;;
    esac
}

latest_tag() {
    local repository=$1 api=${GITHUB_API_URL:-https://api.github.com}
    local body status tag
    body=$(mktemp "$RUNNER_TEMP/dagship-latest.XXXXXX")
    status=$(fetch "$api/repos/$repository/releases/latest" "$body" \
        "Accept: application/vnd.github+json" "X-GitHub-Api-Version: 2022-11-28") || exit 1
    case $status in
    200) ;;
    404) die "$repository has no GitHub release yet: set the action's \`version\` input" ;;
    *) die "asking $api for the latest release of $repository answered HTTP $status: $(head -c 300 "$body")" ;;
    esac
    # The API answers one JSON object; its only "tag_name" is the release's.
    tag=$(tr -d '\n' <"$body" | sed -n 's/.*"tag_name"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
    rm -f "$body"
    is_version_tag "$tag" || die "the latest release of $repository has the tag '$tag', not a version tag vX.Y.Z"
    echo "$tag"
}

# The package version in the action's own Cargo.toml: its first `version = "..."` line.
crate_version() {
    sed -n 's/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$GITHUB_ACTION_PATH/Cargo.toml" | head -n 1
}

resolve() {
    need RUNNER_OS
    need RUNNER_ARCH
    need RUNNER_TEMP
    need GITHUB_OUTPUT
    need GITHUB_ACTION_PATH
    # `uses: ./` (a workflow of dagship's own repository) leaves the action's repository empty.
    local repository=${DAGSHIP_ACTION_REPOSITORY:-${GITHUB_REPOSITORY:-}}
    [[ $repository =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] ||
        die "cannot tell which repository the action comes from (got '$repository')"

    local version=${DAGSHIP_VERSION:-} ref=${DAGSHIP_ACTION_REF:-} tag
    if [ -z "$version" ] && is_version_tag "$ref"; then
        version=$ref
    elif [ -z "$version" ] && [[ $ref =~ ^[0-9a-f]{40}$ ]]; then
        # Pinned by commit: the dagship of that commit, not whatever is released later.
        version=$(crate_version) || true
        [ -n "$version" ] || die "no version in $GITHUB_ACTION_PATH/Cargo.toml: set the action's \`version\` input"
    fi
    case $version in
    "" | latest) tag=$(latest_tag "$repository") || exit 1 ;;
    v*) tag=$version ;;
    *) tag=v$version ;;
    esac
    is_version_tag "$tag" ||
        die "version '$version' is not a release version: give vX.Y.Z, X.Y.Z or latest"

    # dagship is Unix-only (process groups, signals): no build would succeed elsewhere.
    case $RUNNER_OS in
    Linux | macOS) ;;
    *) die "dagship runs on Linux and macOS runners, not on $RUNNER_OS" ;;
    esac
    local target label
    target=$(target_of_runner)
    # Without a release binary, the cache holds what cargo built: keyed by the runner's kind.
    label=${target:-$(printf '%s-%s' "$RUNNER_OS" "$RUNNER_ARCH" | tr '[:upper:]' '[:lower:]')}
    {
        echo "repository=$repository"
        echo "tag=$tag"
        echo "target=$target"
        echo "dir=$RUNNER_TEMP/dagship/$tag/$label"
        echo "cache-key=dagship-$tag-$label"
    } >>"$GITHUB_OUTPUT"
    echo "dagship $tag for $RUNNER_OS $RUNNER_ARCH (${target:-no release binary: cargo install})"
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1"
    else
        shasum -a 256 "$1"
    fi | awk '{ print $1 }'
}

# Downloads the release binary into DIR/bin. When the release has no such asset it sets
# `asset_missing=true` and installs nothing; any other failure ends the script. (It returns no
# status for a caller's `if`: bash ignores `set -e` inside a function called as a condition.)
install_release_binary() {
    local repository=$1 tag=$2 target=$3 dir=$4
    local asset="dagship-$target.tar.gz"
    local base=${DAGSHIP_RELEASES_URL:-${GITHUB_SERVER_URL:-https://github.com}/$repository/releases/download}
    local work status
    work=$(mktemp -d "$RUNNER_TEMP/dagship-download.XXXXXX")
    # Removed on any exit from here on (the variable is global for the trap).
    download_dir=$work
    trap 'rm -rf "$download_dir"' EXIT

    status=$(fetch "$base/$tag/$asset" "$work/$asset") || exit 1
    case $status in
    200) ;;
    404)
        asset_missing=true
        return
        ;;
    *) die "downloading $base/$tag/$asset answered HTTP $status" ;;
    esac
    status=$(fetch "$base/$tag/SHA256SUMS" "$work/SHA256SUMS") || exit 1
    [ "$status" = 200 ] ||
        die "release $tag has $asset but its SHA256SUMS could not be downloaded (HTTP $status): the binary cannot be checked, so it is not used"

    # `sha256sum` lines: "<hex>  <name>", or "<hex> *<name>" in binary mode; maybe CRLF.
    local expected actual lines
    expected=$(awk -v name="$asset" '{ sub(/\r$/, "") } $2 == name || $2 == "*" name { print $1 }' "$work/SHA256SUMS")
    lines=$(printf '%s' "$expected" | grep -c . || true)
    [ "$lines" -ne 0 ] || die "SHA256SUMS of release $tag has no line for $asset: the binary cannot be checked, so it is not used"
    [ "$lines" -eq 1 ] || die "SHA256SUMS of release $tag has $lines lines for $asset: the binary cannot be checked, so it is not used"
    expected=$(printf '%s' "$expected" | tr 'A-F' 'a-f')
    actual=$(sha256_of "$work/$asset")
    [ "$actual" = "$expected" ] ||
        die "checksum mismatch for $asset of release $tag: SHA256SUMS says $expected, the download is $actual. The binary is not used."
    echo "$asset: sha256 $actual matches SHA256SUMS"

    mkdir "$work/unpacked"
    tar -xzf "$work/$asset" -C "$work/unpacked"
    if [ ! -f "$work/unpacked/dagship" ] || [ -L "$work/unpacked/dagship" ]; then
        die "$asset of release $tag holds no file named dagship"
    fi
    mkdir -p "$dir/bin"
    mv "$work/unpacked/dagship" "$dir/bin/dagship"
    chmod 755 "$dir/bin/dagship"
}

build_with_cargo() {
    local repository=$1 tag=$2 dir=$3
    local cargo=${DAGSHIP_CARGO:-cargo}
    local git_url="${GITHUB_SERVER_URL:-https://github.com}/$repository"
    command -v "$cargo" >/dev/null 2>&1 ||
        die "no dagship binary in release $tag for $RUNNER_OS $RUNNER_ARCH, and no cargo to build one: install Rust first (e.g. dtolnay/rust-toolchain)"
    echo "::notice title=dagship action::no dagship binary in release $tag for $RUNNER_OS $RUNNER_ARCH: building it with cargo (the cache keeps it for the next runs)"
    "$cargo" install --locked --git "$git_url" --tag "$tag" --root "$dir" dagship
    [ -x "$dir/bin/dagship" ] || die "$cargo install left no $dir/bin/dagship"
}

install() {
    need DAGSHIP_REPOSITORY
    need DAGSHIP_TAG
    need DAGSHIP_DIR
    need RUNNER_TEMP
    need GITHUB_PATH
    local dir=$DAGSHIP_DIR
    asset_missing=false
    if [ -x "$dir/bin/dagship" ]; then
        echo "dagship $DAGSHIP_TAG restored from the cache"
    elif [ -z "${DAGSHIP_TARGET:-}" ]; then
        build_with_cargo "$DAGSHIP_REPOSITORY" "$DAGSHIP_TAG" "$dir"
    else
        install_release_binary "$DAGSHIP_REPOSITORY" "$DAGSHIP_TAG" "$DAGSHIP_TARGET" "$dir"
        if [ "$asset_missing" = true ]; then
            echo "release $DAGSHIP_TAG has no dagship-$DAGSHIP_TARGET.tar.gz"
            build_with_cargo "$DAGSHIP_REPOSITORY" "$DAGSHIP_TAG" "$dir"
        fi
    fi
    echo "$dir/bin" >>"$GITHUB_PATH"
}

run() {
    # A composite action's `required: true` is not enforced: an empty `args` arrives here.
    local args=${DAGSHIP_ARGS:-}
    # Split on whitespace only: nothing is expanded nor evaluated, so no quoting either.
    case $args in
    *[\"\'\\]*) die "args are split on whitespace and take no quotes nor backslashes: $args" ;;
    esac
    local -a argv
    read -r -d '' -a argv <<<"$args" || true
    [ "${#argv[@]}" -gt 0 ] || die "args is empty: give dagship's command, e.g. \`run --env staging\`"
    cd -- "${DAGSHIP_WORKING_DIRECTORY:-.}"
    exec dagship "${argv[@]}"
}

case "${1:-}" in
resolve) resolve ;;
install) install ;;
run) run ;;
*) die "usage: action.sh resolve|install|run" ;;
esac
