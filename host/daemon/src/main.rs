fn main() {
    println!("esprit");
}
