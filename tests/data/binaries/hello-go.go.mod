module example.com/stockade/hello

go 1.19

require (
	example.com/greet v1.2.3
	example.com/legacy v1.0.0
	example.com/localdep v0.0.0
)

replace example.com/legacy v1.0.0 => example.com/legacyfork v1.0.1

replace example.com/localdep => ./localdep
