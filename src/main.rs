fn main() -> std::process::ExitCode {
    dagship::cli::main()
}
