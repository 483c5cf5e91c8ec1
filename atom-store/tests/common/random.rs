//! Seeded random cases.

use atom_store::nar::MemTree;

use super::*;

/// SplitMix64: small, seedable, good enough to pick test shapes.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const TEXT_PIECES: &[&str] = &[
    "a",
    "hello",
    " ",
    "\"",
    "\\",
    "\n",
    "\t",
    "\r",
    "$",
    "${",
    "{",
    "é",
    "\u{1}",
    "\u{1f}",
    "\u{7f}",
    "=",
    "!out!",
    "/nix/store",
];
const OUTPUTS: &[&str] = &["out", "dev", "lib", "bin", "doc", "man"];
const ATTR_NAMES: &[&str] = &[
    "a",
    "b",
    "c d",
    "Z",
    "ünï",
    "x\"y",
    "passAsFile",
    "out",
    "dev",
    "preferLocalBuild",
    "src",
    "buildInputs",
    "_",
    "-",
];
const NAMES: &[&str] = &["a", "pkg-1.0", "x_y", "with+plus", "q?=.", "hello-2.12.1"];
const SYSTEMS: &[&str] = &[
    "x86_64-linux",
    "aarch64-darwin",
    "my sys-tem!",
    "i686-linux",
];

pub struct Gen {
    rng: Rng,
    /// Output names of each derivation made so far.
    drv_outputs: Vec<Vec<String>>,
    texts: usize,
    srcs: usize,
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen {
            rng: Rng(seed),
            drv_outputs: Vec::new(),
            texts: 0,
            srcs: 0,
        }
    }

    fn text(&mut self) -> String {
        (0..self.rng.below(5))
            .map(|_| *self.rng.pick(TEXT_PIECES))
            .collect()
    }

    fn reference(&mut self, plain_only: bool) -> Option<R> {
        let mut choices: Vec<u8> = Vec::new();
        if self.srcs > 0 {
            choices.push(0);
        }
        if self.texts > 0 {
            choices.push(1);
        }
        if !plain_only {
            choices.push(2);
            if !self.drv_outputs.is_empty() {
                choices.extend([3, 4, 5, 6]);
            }
        }
        let drvs = self.drv_outputs.len();
        if choices.is_empty() {
            return None;
        }
        Some(match *self.rng.pick(&choices) {
            0 => R::Src(self.rng.below(self.srcs)),
            1 => R::Text(self.rng.below(self.texts)),
            2 => R::Placeholder(self.rng.pick(OUTPUTS).to_string()),
            3 => R::Drv(self.rng.below(drvs)),
            4 => {
                let i = self.rng.below(drvs);
                let output = self.rng.pick(&self.drv_outputs[i].clone()).clone();
                R::Output(i, output)
            }
            5 => R::DrvPath(self.rng.below(drvs)),
            _ => R::DiscardedDrvPath(self.rng.below(drvs)),
        })
    }

    fn string(&mut self, plain_only: bool) -> S {
        let mut parts = Vec::new();
        for _ in 0..self.rng.below(4) {
            if self.rng.chance(30) {
                if let Some(r) = self.reference(plain_only) {
                    parts.push(Part::Ref(r));
                    continue;
                }
            }
            parts.push(Part::Lit(self.text()));
        }
        S::Str(parts)
    }

    fn value(&mut self, depth: usize, structured: bool) -> S {
        let kinds = if depth == 0 {
            6
        } else if structured {
            9
        } else {
            8
        };
        match self.rng.below(kinds) {
            0 | 1 => self.string(false),
            2 => S::Int(self.rng.below(2001) as i64 - 1000),
            3 => S::Bool(self.rng.chance(50)),
            4 => S::Null,
            5 => S::Float((self.rng.below(401) as f64 - 200.0) / 8.0),
            6 => S::List(
                (0..self.rng.below(4))
                    .map(|_| self.value(depth - 1, structured))
                    .collect(),
            ),
            7 => match self.reference(false) {
                Some(r) if !matches!(r, R::Placeholder(_)) => S::Ref(r),
                _ => S::Int(7),
            },
            _ => S::Attrs(
                (0..self.rng.below(4))
                    .map(|i| {
                        (
                            format!("{}{i}", self.rng.pick(ATTR_NAMES)),
                            self.value(depth - 1, structured),
                        )
                    })
                    .collect(),
            ),
        }
    }

    fn fixed_output(&mut self) -> Vec<(String, S)> {
        let algo = *self.rng.pick(&[
            atom_store::HashAlgo::Md5,
            atom_store::HashAlgo::Sha1,
            atom_store::HashAlgo::Sha256,
            atom_store::HashAlgo::Sha512,
        ]);
        let bytes: Vec<u8> = (0..algo.size()).map(|_| self.rng.next() as u8).collect();
        let hash = atom_store::Hash::from_bytes(algo, &bytes).unwrap();
        use atom_store::hash::Base;
        let (text, give_algo) = match self.rng.below(5) {
            0 => (hash.encode(Base::Base16, false), true),
            1 => (hash.encode(Base::Base32, false), true),
            2 => (hash.encode(Base::Base64, false), true),
            3 => (hash.to_sri(), self.rng.chance(50)),
            _ => (hash.encode(Base::Base32, true), self.rng.chance(50)),
        };
        let mut out = vec![("outputHash".to_owned(), lit(&text))];
        if give_algo {
            out.push(("outputHashAlgo".to_owned(), lit(algo.name())));
        }
        if self.rng.chance(60) {
            out.push((
                "outputHashMode".to_owned(),
                lit(if self.rng.chance(50) {
                    "flat"
                } else {
                    "recursive"
                }),
            ));
        }
        out
    }

    fn derivation(&mut self) -> Vec<(String, S)> {
        let structured = self.rng.chance(25);
        let mut attrs = vec![
            ("name".to_owned(), lit(self.rng.pick::<&str>(NAMES))),
            ("system".to_owned(), lit(self.rng.pick::<&str>(SYSTEMS))),
            (
                "builder".to_owned(),
                if self.rng.chance(70) {
                    lit("/bin/sh")
                } else {
                    let mut builder = vec![Part::Lit("/b".to_owned())];
                    if let S::Str(parts) = self.string(false) {
                        builder.extend(parts);
                    }
                    S::Str(builder)
                },
            ),
        ];
        if structured {
            attrs.push(("__structuredAttrs".to_owned(), S::Bool(true)));
        }
        if self.rng.chance(20) {
            attrs.push(("__ignoreNulls".to_owned(), S::Bool(self.rng.chance(70))));
        }
        let mut outputs = vec!["out".to_owned()];
        if self.rng.chance(15) {
            attrs.extend(self.fixed_output());
        } else if self.rng.chance(35) {
            outputs.clear();
            for _ in 0..1 + self.rng.below(3) {
                let name = self.rng.pick(OUTPUTS).to_string();
                if !outputs.contains(&name) {
                    outputs.push(name);
                }
            }
            attrs.push((
                "outputs".to_owned(),
                S::List(outputs.iter().map(|o| lit(o)).collect()),
            ));
        }
        if self.rng.chance(30) {
            let args = (0..self.rng.below(4))
                .map(|_| self.value(1, false))
                .collect();
            attrs.push(("args".to_owned(), S::List(args)));
        }
        for _ in 0..self.rng.below(7) {
            let name = self.rng.pick(ATTR_NAMES).to_string();
            if attrs.iter().any(|(k, _)| *k == name) {
                continue;
            }
            let value = self.value(2, structured);
            attrs.push((name, value));
        }
        self.drv_outputs.push(outputs);
        attrs
    }

    fn tree(&mut self, depth: usize) -> MemTree {
        match self.rng.below(if depth == 0 { 3 } else { 4 }) {
            0 => MemTree::file(self.text()),
            1 => MemTree::executable(self.text()),
            2 => MemTree::symlink(format!("target{}", self.rng.below(3))),
            _ => MemTree::dir(
                (0..self.rng.below(4))
                    .map(|i| {
                        (
                            format!("{}{i}", self.rng.pick(&["f", "B", "z.txt", "é"])),
                            self.tree(depth - 1),
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
        }
    }

    pub fn case(&mut self, drvs: usize) -> Case {
        let mut case = Case::default();
        for i in 0..2 {
            let tree = match i {
                0 => MemTree::dir([("top", self.tree(2))]),
                _ => self.tree(2),
            };
            case.srcs.push(Src {
                name: format!("{}{i}", self.rng.pick(NAMES)),
                tree,
                interpolated: self.rng.chance(50),
            });
            self.srcs += 1;
        }
        for i in 0..3 {
            let text = self.string(true);
            case.texts.push((format!("file{i}.txt"), text));
            self.texts += 1;
        }
        for _ in 0..drvs {
            case.drvs.push(self.derivation());
        }
        case
    }
}
