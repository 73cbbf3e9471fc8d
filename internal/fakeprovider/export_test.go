package fakeprovider

// SetTestHooks installs the hooks that let tests see a request block on a fault and its handler return.
func SetTestHooks(s *Server, blocked, finished func()) {
	s.hooks.Store(&testHooks{blocked: blocked, finished: finished})
}
