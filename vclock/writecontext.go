package vclock

// WriterContext is the context to hand back to the client whose write just
// turned before into after with dot, given the context seen that the write
// superseded (the client's, or the coordinator's clock for a blind write). It covers what
// the writer had seen plus its own new version, and never a concurrent
// sibling the writer has not seen, so the writer's next write with it
// supersedes exactly its own history.
//
// A version vector cannot name one dot alone. When the new version is the
// only sibling left, the set's whole clock is exact: everything else it
// covers is obsolete. When other siblings remain, seen plus the dot is exact
// only if seen already covers every earlier dot of the actor for this key
// (all of them are in before's clock, since an actor issues dots only from
// its own replica's state); otherwise seen alone
// is returned, and a follow-up write keeps the writer's own version as a
// sibling rather than silently superseding someone else's.
func WriterContext(before, after Set, seen VV, dot Dot) VV {
	if len(after.Siblings) == 1 && after.Siblings[0].Dot == dot {
		return after.Clock
	}
	if seen.Get(dot.Actor) >= before.Clock.Get(dot.Actor) {
		return seen.Add(dot)
	}
	return seen
}
