package ring

// The placement of {alpha, bravo, charlie, delta, echo} at Q=16, N=3 and
// the partition of "hello" at that Q, pinned by TestGolden.
var (
	goldenRing = []string{
		"echo,charlie,bravo", "alpha,echo,delta", "delta,bravo,alpha", "echo,charlie,delta",
		"charlie,alpha,echo", "charlie,bravo,delta", "echo,bravo,delta", "bravo,charlie,echo",
		"delta,bravo,alpha", "charlie,alpha,echo", "delta,alpha,bravo", "alpha,delta,echo",
		"delta,alpha,charlie", "echo,bravo,alpha", "alpha,echo,bravo", "bravo,delta,charlie",
	}
	goldenHelloPartition = 2
)
