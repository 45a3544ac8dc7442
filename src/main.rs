fn main() {
    std::process::exit(h2ring::app::main());
}
