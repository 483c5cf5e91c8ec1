//! Cycles in the dependency graph of atoms, found one way for every
//! graph eka builds (a resolution's atoms, a lock's): depth first and
//! iterative, so a deep graph cannot overflow the stack.

/// A cycle of a graph: its nodes in order, the first repeated at the end
/// (`a -> b -> a`), and the edge that closes it (its source node and its
/// index among that node's edges).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    pub nodes: Vec<usize>,
    pub closing_edge: (usize, usize),
}

/// The first cycle of the graph of nodes `0..count`, if there is one;
/// `edge(node, k)` is the target of `node`'s `k`-th edge (`None` past the
/// last).
pub fn find_cycle(count: usize, edge: impl Fn(usize, usize) -> Option<usize>) -> Option<Cycle> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        OnPath,
        Done,
    }
    let mut state = vec![State::New; count];
    for start in 0..count {
        if state[start] != State::New {
            continue;
        }
        // (node, next edge to follow).
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = State::OnPath;
        while let Some(&mut (node, ref mut k)) = path.last_mut() {
            let Some(target) = edge(node, *k) else {
                state[node] = State::Done;
                path.pop();
                continue;
            };
            let index = *k;
            *k += 1;
            match state[target] {
                State::Done => {}
                State::New => {
                    state[target] = State::OnPath;
                    path.push((target, 0));
                }
                State::OnPath => {
                    let from = path.iter().position(|&(p, _)| p == target).unwrap_or(0);
                    let mut nodes: Vec<usize> = path[from..].iter().map(|&(p, _)| p).collect();
                    nodes.push(target);
                    return Some(Cycle {
                        nodes,
                        closing_edge: (node, index),
                    });
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cycle_of(edges: &[&[usize]]) -> Option<Cycle> {
        find_cycle(edges.len(), |n, k| edges[n].get(k).copied())
    }

    #[test]
    fn finds_the_cycle_and_its_closing_edge() {
        assert_eq!(cycle_of(&[&[1], &[2], &[]]), None);
        assert_eq!(
            cycle_of(&[&[1, 2], &[2], &[]]),
            None,
            "a diamond is no cycle"
        );
        let c = cycle_of(&[&[1], &[2], &[0]]).unwrap();
        assert_eq!(c.nodes, vec![0, 1, 2, 0]);
        assert_eq!(c.closing_edge, (2, 0));
        let c = cycle_of(&[&[1], &[1]]).unwrap();
        assert_eq!(c.nodes, vec![1, 1]);
        assert_eq!(c.closing_edge, (1, 0));
    }

    #[test]
    fn a_deep_chain_does_not_overflow() {
        let n = 200_000;
        let c = find_cycle(n, |i, k| (k == 0).then_some((i + 1) % n)).unwrap();
        assert_eq!(c.nodes.len(), n + 1);
    }
}
