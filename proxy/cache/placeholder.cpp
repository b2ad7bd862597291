// The checkpoint index (issue 3) lands here.
