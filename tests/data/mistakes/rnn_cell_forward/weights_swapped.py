# expect: SHAPE_ERROR
a_next = np.tanh(np.dot(Wax, a_prev) + np.dot(Waa, xt) + ba)
yt_pred = softmax(np.dot(Wya, a_next) + by)
