/* Test program: prints its name and the first argument, exits with argv[2] if given. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	printf("hello %s %s\n", argv[0], argc > 1 ? argv[1] : "-");
	return argc > 2 ? atoi(argv[2]) : 0;
}
