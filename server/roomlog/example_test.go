package roomlog_test

import (
	"context"
	"fmt"
	"log"

	"github.com/poolchat/poolchat/server/roomlog"
)

func Example() {
	l, err := roomlog.Open(roomlog.Config{Ephemeral: true, Room: "lobby"})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	ctx := context.Background()
	l.Append(ctx, "member.user_1", "join-1", []byte("ada joined"))
	l.Append(ctx, "msg", "msg-1", []byte("hello"))
	l.Append(ctx, "msg", "msg-1", []byte("hello")) // a retry: stored once

	got := make(chan roomlog.Entry)
	f, err := l.Follow(1, func(e roomlog.Entry) { got <- e })
	if err != nil {
		log.Fatal(err)
	}
	defer f.Stop()
	for range 2 {
		e := <-got
		fmt.Printf("%d %s %s\n", e.Seq, e.Subject, e.Data)
	}
	// Output:
	// 1 member.user_1 ada joined
	// 2 msg hello
}
