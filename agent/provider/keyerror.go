package provider

import "fmt"

// KeyError is a provider's refusal of one of its scope's settings. Key is
// the setting as the config spells it, relative to the scope ("role-arn",
// "parameters.client_secret"), so the agent can point at its line; the
// message names the key itself.
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string { return e.Msg }

// KeyErrorf returns a *KeyError for key with a formatted message.
func KeyErrorf(key, format string, args ...any) error {
	return &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)}
}
